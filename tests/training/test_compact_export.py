"""Compact shipping forms (training.export.compact): fp16 weights and int8 QDQ of the width-0.25 ResNet20,
loaded by the service's Embedder and compared with fp32 on real aligned CelebA crops."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, numpy_helper
from pydantic import ValidationError
from typer.testing import CliRunner

from service.cli import app
from service.errors import FaceverError
from service.vision.embedder import Embedder
from service.vision.model_card import CARD_FILE, ONNX_FILE, ModelCard, load_model_card
from tests.training.data.conftest import prepared, source_dir  # noqa: F401  reused session fixtures
from training.config import load_config
from training.export.compact import CompactParityError, compact_model, fp32_weights, sample_crops
from training.export.embedder import export_embedder
from training.nets import build_embedder
from training.train import train

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
# Random weights quantise worse than trained ones; measured min cosine to fp32 on these crops is about
# 0.99 for the fused 1024-D embedding (0.98 for single network outputs), so 0.97 leaves margin for
# platform differences while still catching a broken quantisation (those land far below 0.9).
INT8_MIN_COSINE = 0.97
FP16_MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def data_dir(prepared) -> Path:  # noqa: F811  the fixture, by name
    return prepared[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    """fp32 export of build_embedder(0, width=0.25) and its fp16 and int8 conversions, one folder each."""
    root = tmp_path_factory.mktemp("compact")
    export_embedder(build_embedder(0, width=0.25), root / "fp32", name="r20-w025")
    dirs = {"fp32": root / "fp32"}
    for weights in ("fp16", "int8"):
        dirs[weights] = root / weights
        compact_model(root / "fp32", dirs[weights], weights, calibration=data_dir)
    return dirs


@pytest.fixture(scope="module")
def crops(data_dir: Path) -> np.ndarray:
    return sample_crops(data_dir)  # every crop of the tiny set (fewer than the sample size)


@pytest.fixture(scope="module")
def embeddings(models: dict[str, Path], crops: np.ndarray) -> dict[str, np.ndarray]:
    """What the service would store for each crop, per form (Embedder verifies each card's sha256)."""
    return {weights: Embedder(path, threads=1).embed(crops) for weights, path in models.items()}


def test_compact_cards_describe_the_files(models: dict[str, Path], data_dir: Path) -> None:
    fp32 = load_model_card(models["fp32"])
    assert fp32.weights == "fp32" and fp32.compaction is None
    for weights in ("fp16", "int8"):
        card = Embedder(models[weights], threads=1).card  # loads: sha256, input contract and I/O shapes check out
        assert card.weights == weights
        assert card.compaction is not None and card.compaction.source_sha256 == fp32.onnx_sha256
        assert str(data_dir) in card.compaction.checked_on
        assert card.model_dump(exclude={"onnx_sha256", "weights", "compaction"}) == fp32.model_dump(
            exclude={"onnx_sha256", "weights", "compaction"})
        assert card.onnx_sha256 != fp32.onnx_sha256
        assert not (models[weights] / (ONNX_FILE + ".tmp")).exists()


def test_files_shrink(models: dict[str, Path]) -> None:
    size = {weights: (path / ONNX_FILE).stat().st_size for weights, path in models.items()}
    assert 0.45 < size["fp16"] / size["fp32"] < 0.55
    assert 0.2 < size["int8"] / size["fp32"] < 0.32


def test_fp16_graph_stores_half_weights_and_computes_in_fp32(models: dict[str, Path]) -> None:
    graph = onnx.load(str(models["fp16"] / ONNX_FILE)).graph
    floats = [init for init in graph.initializer if init.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16)]
    assert floats and all(init.data_type == TensorProto.FLOAT16 for init in floats)
    casts = {node.input[0]: node for node in graph.node if node.op_type == "Cast"}
    assert set(casts) == {init.name for init in floats}
    assert all(node.attribute[0].i == TensorProto.FLOAT for node in casts.values())
    io = [*graph.input, *graph.output]
    assert all(value.type.tensor_type.elem_type == TensorProto.FLOAT for value in io)


def test_int8_graph_is_qdq_with_per_channel_conv_weights(models: dict[str, Path]) -> None:
    graph = onnx.load(str(models["int8"] / ONNX_FILE)).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QuantizeLinear") > 0 and ops.count("DequantizeLinear") > 0
    inits = {init.name: init for init in graph.initializer}
    dequant = {node.output[0]: node for node in graph.node if node.op_type == "DequantizeLinear"}
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(convs) == 20
    for conv in convs:
        dq = dequant[conv.input[1]]  # the weight comes out of a DequantizeLinear of int8 data
        weight, scale = inits[dq.input[0]], numpy_helper.to_array(inits[dq.input[1]])
        assert weight.data_type == TensorProto.INT8
        assert scale.shape == (weight.dims[0],)  # one scale per output channel
    assert all(value.type.tensor_type.elem_type == TensorProto.FLOAT for value in [*graph.input, *graph.output])


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_embeddings_stay_close_to_fp32(embeddings: dict[str, np.ndarray], models: dict[str, Path]) -> None:
    fp16 = cosines(embeddings["fp32"], embeddings["fp16"])
    int8 = cosines(embeddings["fp32"], embeddings["int8"])
    assert fp16.min() > FP16_MIN_COSINE, fp16.min()
    assert int8.min() > INT8_MIN_COSINE, int8.min()
    # the card's numbers are per network output (per crop and per mirror) on the same crops
    for weights, bound in (("fp16", FP16_MIN_COSINE), ("int8", INT8_MIN_COSINE - 0.02)):
        card = load_model_card(models[weights])
        assert bound < card.compaction.min_cosine <= card.compaction.mean_cosine <= 1


def test_fp16_without_data_checks_on_random_crops(models: dict[str, Path], tmp_path: Path) -> None:
    card = compact_model(models["fp32"], tmp_path / "fp16", "fp16")
    assert "random" in card.compaction.checked_on and card.compaction.min_cosine > FP16_MIN_COSINE
    assert card.onnx_sha256 == load_model_card(models["fp16"]).onnx_sha256  # same bytes: deterministic


def test_conversion_refusals(models: dict[str, Path], data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="calibration"):
        compact_model(models["fp32"], tmp_path / "a", "int8")
    with pytest.raises(ValueError, match="from the fp32 export"):
        compact_model(models["fp16"], tmp_path / "b", "fp16")
    with pytest.raises(ValueError, match="from the fp32 export"):
        compact_model(models["int8"], tmp_path / "b", "fp16")
    with pytest.raises(ValueError, match="differ"):
        compact_model(models["fp32"], models["fp32"], "fp16")
    with pytest.raises(CompactParityError):  # an impossible floor: the file must not be installed
        compact_model(models["fp32"], tmp_path / "c", "fp16", min_cosine=1.1)
    assert not (tmp_path / "c" / ONNX_FILE).exists() and not (tmp_path / "c" / CARD_FILE).exists()


def test_int8_from_the_fp16_form_widens_its_weights_exactly(models: dict[str, Path], data_dir: Path,
                                                           tmp_path: Path) -> None:
    """The shipped model is fp16 with no fp32 file beside it: int8 is made from it, its weights widened back."""
    widened = fp32_weights(onnx.load(str(models["fp16"] / ONNX_FILE)))
    assert "Cast" not in {node.op_type for node in widened.graph.node}
    original = {init.name: numpy_helper.to_array(init) for init in onnx.load(str(models["fp32"] / ONNX_FILE)).graph.initializer}
    floats = [init for init in widened.graph.initializer if init.data_type == TensorProto.FLOAT]
    assert {init.name for init in floats} == {name for name, w in original.items() if w.dtype == np.float32}
    for init in floats:
        np.testing.assert_array_equal(numpy_helper.to_array(init), original[init.name].astype(np.float16))
    card = compact_model(models["fp16"], tmp_path / "int8", "int8", calibration=data_dir, name="r20-w025-int8")
    source = load_model_card(models["fp16"])
    assert card.name == "r20-w025-int8" and card.weights == "int8"
    assert card.compaction.source_sha256 == source.onnx_sha256
    assert card.compaction.min_cosine > INT8_MIN_COSINE - 0.02


def _report(model: str, onnx_sha256: str = "") -> dict:
    """A minimal PairReport JSON, as facever evaluate writes it."""
    return {"dataset": "lfw", "model": model, "onnx_sha256": onnx_sha256, "result": {
        "mean_accuracy": 0.9, "std_accuracy": 0.01, "n_pairs": 600, "best_threshold": {"value": 0.2},
        "tar_at_far": [{"far": 1e-3, "tar": 0.5, "threshold": 0.4}]}}


def test_calibrate_writes_the_evaluation_into_the_card_and_nothing_else(models: dict[str, Path],
                                                                      tmp_path: Path) -> None:
    model_dir = tmp_path / "int8"
    shutil.copytree(models["int8"], model_dir)
    before = load_model_card(model_dir)
    report = tmp_path / "lfw.json"
    report.write_text(json.dumps(_report(before.name, before.onnx_sha256)))
    run = CliRunner().invoke(app, ["calibrate", str(model_dir), "--report", str(report)])
    assert run.exit_code == 0, run.output
    card = Embedder(model_dir, threads=1).card  # still loads: the ONNX file and its sha256 are untouched
    assert (card.metrics.lfw_mean, card.metrics.tar_at_far) == (0.9, {"0.001": 0.5})
    assert (card.thresholds.best_accuracy, card.thresholds.far_1e_3) == (0.2, 0.4)
    assert "600 pairs" in card.thresholds.calibrated_on
    unchanged = ("onnx_sha256", "training", "compaction", "weights", "name")
    assert card.model_dump(include=set(unchanged)) == before.model_dump(include=set(unchanged))
    assert (card.metrics.sep_mean, card.metrics.sep_std) == (before.metrics.sep_mean, before.metrics.sep_std)


@pytest.mark.parametrize("content", [
    json.dumps(_report("another-model", "SHA")),
    json.dumps(_report("x", "0" * 64)),  # the same name, another network
    json.dumps(_report("x")),  # written before reports carried the sha256
    json.dumps({"model": "x", "onnx_sha256": "SHA"}),
    json.dumps(_report("x", "SHA") | {"cohort": {"sha256": "0" * 64, "faces": 2000, "top_k": 10}}),  # scored otherwise
    "not json",
])
def test_calibrate_refuses_a_report_of_another_model_or_no_report(models: dict[str, Path], tmp_path: Path,
                                                                  content: str) -> None:
    model_dir = tmp_path / "int8"
    shutil.copytree(models["int8"], model_dir)
    card_before = (model_dir / CARD_FILE).read_bytes()
    card = load_model_card(model_dir)
    report = tmp_path / "lfw.json"
    report.write_text(content.replace('"x"', json.dumps(card.name)).replace("SHA", card.onnx_sha256))
    run = CliRunner().invoke(app, ["calibrate", str(model_dir), "--report", str(report)])
    assert run.exit_code == 2 and "facever calibrate:" in run.output
    assert (model_dir / CARD_FILE).read_bytes() == card_before


def test_calibrate_a_folder_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    report = tmp_path / "lfw.json"
    report.write_text(json.dumps(_report("x")))
    run = CliRunner().invoke(app, ["calibrate", str(tmp_path), "--report", str(report)])
    assert run.exit_code == 2 and '"code"' in run.output and "Traceback" not in run.output


def test_cards_without_weights_are_fp32_and_compaction_needs_a_compact_form(models: dict[str, Path],
                                                                           tmp_path: Path) -> None:
    raw = json.loads((models["fp32"] / CARD_FILE).read_text())
    raw.pop("weights"), raw.pop("compaction")  # a card written before the fields existed
    assert ModelCard.model_validate(raw).weights == "fp32"
    compact = json.loads((models["int8"] / CARD_FILE).read_text())
    with pytest.raises(ValidationError):
        ModelCard.model_validate({**compact, "weights": "fp32"})
    with pytest.raises(ValidationError):
        ModelCard.model_validate({**raw, "weights": "int8"})
    (tmp_path / CARD_FILE).write_text(json.dumps({**compact, "weights": "int4"}))
    with pytest.raises(FaceverError):
        load_model_card(tmp_path)


def test_export_cli_ships_a_compact_form(data_dir: Path, tmp_path: Path) -> None:
    """facever export --weights fp16 --calibration DATA on a (2-step) trained width-0.25 checkpoint; int8
    without --calibration is a usage error. (int8 through the CLI runs the same compact_model as above.)"""
    cfg = load_config(CONFIGS / "tiny_cpu.yaml", [f"data.dir={data_dir}", f"out_dir={tmp_path / 'run'}",
                                                 "max_steps=2", "width=0.25"])
    checkpoint = train(cfg).checkpoint
    out = tmp_path / "models" / "tiny"
    base = ["export", "--checkpoint", str(checkpoint), "--name", "tiny", "--out", str(out)]
    refused = CliRunner().invoke(app, [*base, "--weights", "int8"])
    assert refused.exit_code == 2 and "--calibration" in refused.output
    run = CliRunner().invoke(app, [*base, "--weights", "fp16", "--calibration", str(data_dir)])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output.splitlines()[0])["weights"] == "fp16"
    card = Embedder(out, threads=1).card
    assert card.weights == "fp16" and card.training.base_loss == "normface" and card.name == "tiny"
    assert card.compaction.min_cosine > FP16_MIN_COSINE and str(data_dir) in card.compaction.checked_on
