"""Export an embedder network to ONNX + model card, checked against torch; builds the random placeholder."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

from service.vision.embedder import preprocess
from service.vision.file_hash import file_sha256
from service.vision.model_card import (
    ONNX_FILE,
    EmbeddingSpec,
    Metrics,
    ModelCard,
    Thresholds,
    TrainingRecipe,
)
from training.nets import INPUT_HW, build_embedder

OPSET = 18  # the dynamo exporter's native opset; 17 would only add a down-conversion pass
PARITY_ATOL = 1e-4
PLACEHOLDER_NOTES = "random initialisation: for plumbing tests only, meaningless similarities"


class ExportParityError(RuntimeError):
    """The exported ONNX graph does not reproduce the torch network."""


def export_embedder(
    net: nn.Module,
    out_dir: Path,
    *,
    name: str,
    version: str = "0.1.0",
    training: TrainingRecipe | None = None,
    metrics: Metrics | None = None,
    thresholds: Thresholds | None = None,
    embedding: EmbeddingSpec | None = None,
    parity_batch: int = 4,
) -> ModelCard:
    """Write out_dir/model.onnx (fp32, dynamic batch) and model.json; raise if ORT != torch (> 1e-4).

    The ONNX file is written under a temporary name and only renamed after the parity check, and the
    card is written last, so a failed export never leaves a card that vouches for a bad file.
    """
    embedding = embedding or EmbeddingSpec()
    out_dir = Path(out_dir)
    was_training = net.training
    net.eval()  # BN uses running stats, which the exporter's optimiser folds into the convs
    try:
        with torch.no_grad():
            feature_dim = net(torch.zeros(1, 3, *INPUT_HW)).shape[1]
        if feature_dim != embedding.feature_dim:  # the service would refuse this model: fail now
            raise ValueError(f"net gives {feature_dim} features, the card says {embedding.feature_dim}")
        with staged_onnx(out_dir) as tmp_path:
            # one self-contained file (no external data) so the card's sha256 covers every weight
            torch.onnx.export(
                net, (torch.zeros(2, 3, *INPUT_HW),), str(tmp_path), dynamo=True, external_data=False,
                opset_version=OPSET, input_names=["input"], output_names=["feature"],
                dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False,
            )
            check_parity(net, tmp_path, parity_batch)
    finally:
        net.train(was_training)
    onnx_path = out_dir / ONNX_FILE
    card = ModelCard(
        name=name, version=version, onnx_sha256=file_sha256(onnx_path),
        embedding=embedding,
        training=training or TrainingRecipe(), metrics=metrics or Metrics(),
        thresholds=thresholds or Thresholds(),
    )
    card.write(out_dir)
    return card


@contextmanager
def staged_onnx(out_dir: Path) -> Iterator[Path]:
    """A temporary file beside out_dir/model.onnx to write and check: it becomes model.onnx only when the
    block ends cleanly, and is removed otherwise, so a failed check never replaces a good file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_path = out_dir / (ONNX_FILE + ".tmp")
    try:
        yield tmp_path
        tmp_path.replace(out_dir / ONNX_FILE)
    finally:
        tmp_path.unlink(missing_ok=True)


def check_parity(net: nn.Module, onnx_path: Path, batch: int) -> float:
    """fp32 torch vs onnxruntime on random uint8 crops (batch > 1 exercises the dynamic axis)."""
    crops = np.random.default_rng(0).integers(0, 256, (batch, *INPUT_HW, 3), dtype=np.uint8)
    x = preprocess(crops)
    with torch.no_grad():
        expected = net(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    diff = float(np.max(np.abs(got - expected)))
    if got.shape != expected.shape or not diff <= PARITY_ATOL:
        raise ExportParityError(f"ONNX vs torch: shapes {got.shape}/{expected.shape}, "
                                f"max abs diff {diff:.3g} > {PARITY_ATOL}")
    return diff


def export_random_placeholder(out_dir: Path, seed: int = 0) -> ModelCard:
    """A ResNet20 with a fixed random initialisation, for plumbing tests; its card says so."""
    return export_embedder(
        build_embedder(seed), out_dir, name="resnet20-random", version=f"0.0.0+seed{seed}",
        training=TrainingRecipe(seed=seed, notes=PLACEHOLDER_NOTES),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--random", action="store_true", required=True,
                        help="export a randomly initialised ResNet20 (trained models are exported by "
                             "the training code through export_embedder)")
    parser.add_argument("--out", type=Path, default=Path("models/resnet20-random"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    card = export_random_placeholder(args.out, args.seed)
    size_mib = (args.out / ONNX_FILE).stat().st_size / 2**20
    print(f"wrote {args.out / ONNX_FILE} ({size_mib:.1f} MiB, sha256 {card.onnx_sha256[:12]}...)")


if __name__ == "__main__":
    main()
