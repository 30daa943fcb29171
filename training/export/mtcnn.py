"""Export facenet-pytorch's MTCNN nets (P-Net, R-Net, O-Net) to ONNX for the service's detector.

The pretrained weights ship inside the facenet-pytorch wheel (MIT licence; originally the MTCNN of
Zhang et al., 2016). Each net is exported fp32 with a dynamic batch axis (P-Net also has dynamic
height and width, since it runs fully convolutionally over the image pyramid), then checked against
torch on random inputs with onnxruntime; a mismatch raises instead of leaving a bad file behind.

    python -m training.export.mtcnn [--out models/detector]
"""

from __future__ import annotations

import argparse
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from service.config import REPO_ROOT

log = logging.getLogger(__name__)

OPSET = 17
PARITY_ATOL = 1e-4
DEFAULT_OUT = REPO_ROOT / "models" / "detector"


@dataclass(frozen=True)
class NetSpec:
    """How one net is exported: its file, output names (in forward order) and dynamic axes."""

    name: str
    outputs: tuple[str, ...]
    side: int  # fixed input side; P-Net's is only the size used for the trace and the check
    dynamic_hw: bool


# Output order follows the torch forward(): (regression, probabilities) / (regression, landmarks, probabilities).
SPECS = (
    NetSpec("pnet", ("reg", "prob"), 12, True),
    NetSpec("rnet", ("reg", "prob"), 24, False),
    NetSpec("onet", ("reg", "landmarks", "prob"), 48, False),
)


def load_net(name: str) -> torch.nn.Module:
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    net = {"pnet": PNet, "rnet": RNet, "onet": ONet}[name](pretrained=True)
    return net.eval()


def _dynamic_axes(spec: NetSpec) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {"input": {0: "batch"}}
    if spec.dynamic_hw:
        axes["input"].update({2: "height", 3: "width"})
    for out in spec.outputs:
        # P-Net outputs are maps whose size follows the input; the others are (batch, k).
        axes[out] = {0: "batch", 2: "out_h", 3: "out_w"} if spec.dynamic_hw else {0: "batch"}
    return axes


def check_parity(net: torch.nn.Module, path: Path, spec: NetSpec, seed: int = 0) -> float:
    """Largest |torch - onnxruntime| over a few random batches and (for P-Net) image sizes."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    shapes = [(1, spec.side, spec.side), (7, spec.side, spec.side)]
    if spec.dynamic_hw:
        shapes += [(1, 37, 61), (2, 250, 180), (1, 13, 12)]
    worst = 0.0
    for n, h, w in shapes:
        # Same range as the normalised pixels the detector feeds: (x - 127.5) / 128.
        x = rng.uniform(-1.0, 1.0, size=(n, 3, h, w)).astype(np.float32)
        with torch.no_grad():
            ref = [t.numpy() for t in net(torch.from_numpy(x))]
        got = sess.run(list(spec.outputs), {"input": x})
        for r, g in zip(ref, got, strict=True):
            if r.shape != g.shape:
                raise RuntimeError(
                    f"{path.name}: shape {g.shape} != torch {r.shape} for input {(n, 3, h, w)}"
                )
            worst = max(worst, float(np.abs(r - g).max()))
    if worst > PARITY_ATOL:
        raise RuntimeError(f"{path.name}: onnxruntime differs from torch by {worst:.3g} > {PARITY_ATOL}")
    return worst


def export_net(spec: NetSpec, out_dir: Path) -> float:
    """Export one net to <out_dir>/<name>.onnx, check it, and return the max abs parity error."""
    net = load_net(spec.name)
    path = out_dir / f"{spec.name}.onnx"
    dummy = torch.zeros(1, 3, spec.side, spec.side)
    # The TorchScript exporter writes one self-contained file with the weights inline (no external
    # data), which keeps the committed artefacts small and simple; its deprecation notice is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            net,
            (dummy,),
            str(path),
            input_names=["input"],
            output_names=list(spec.outputs),
            dynamic_axes=_dynamic_axes(spec),
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return check_parity(net, path, spec)


def export_all(out_dir: Path = DEFAULT_OUT) -> dict[str, float]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return {spec.name: export_net(spec, out_dir) for spec in SPECS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name, err in export_all(args.out).items():
        path = args.out / f"{name}.onnx"
        log.info("%s: %.0f KiB, max |torch - onnxruntime| = %.2e", path, path.stat().st_size / 1024, err)


if __name__ == "__main__":
    main()
