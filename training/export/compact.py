"""Compact shipping forms of an exported fp32 embedder: fp16 weights (fp32 compute) or int8 (static QDQ).

    python -m training.export.compact SRC_DIR OUT_DIR --weights fp16|int8 [--calibration DATA_DIR]

SRC_DIR is a model folder written by export_embedder (fp32 model.onnx + model.json), or an fp16 folder written
by this tool (its weights are widened back to fp32 first: exact, so the shipped fp16 model can be quantised
without its training checkpoint). OUT_DIR gets a new
model.onnx and a card that copies SRC_DIR's (name, recipe, metrics, thresholds) with the new sha256, the
weight form, and a ``compaction`` section: the fp32 file it came from and the min/mean cosine between the
fp32 and the compact network outputs on the check crops.

- **fp16**: every float initialiser is stored as float16 and followed by a Cast back to float32, so the
  graph's inputs, outputs and compute stay fp32. ONNX Runtime folds the casts when the session starts:
  half the file, the speed of fp32, and results within fp16 rounding of the weights. (The float16
  converters in onnxconverter_common / onnxruntime.transformers turn the compute into fp16 too, which
  CPUs run slowly or not at all, hence this small rewrite.)
- **int8**: onnxruntime.quantization static quantisation, QDQ format, uint8 activations and per-channel
  int8 weights in 7 bits (``reduce_range``), after ORT's quant pre-processing (shape inference + graph
  optimisation). The 7 bits matter on CPUs without VNNI (AVX2 only): there the u8 x s8 products are
  summed in pairs into int16, which full-range weights overflow (the shipped net's min cosine to fp32 was
  0.79 with int8 activations and 8-bit weights, 0.994 with these settings). Activation ranges are the
  0.001-99.999 percentiles (clipping rare outliers did better than MinMax in our trials), calibrated on real
  aligned crops from a packed training set (``facever prepare``),
  each batch holding the crops and their mirror images, preprocessed by the service's own function,
  exactly as the service feeds the network. About a quarter of the fp32 file.

A conversion whose min cosine falls under a floor (MIN_COSINE) raises CompactParityError and leaves no
card behind, as export_embedder does on a parity failure.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

from service.vision.cohort import COHORT_FILE
from service.vision.embedder import preprocess_with_flips
from service.vision.file_hash import file_sha256
from service.vision.model_card import ONNX_FILE, Compaction, ModelCard, Weights, load_model_card
from training.data.shards import CROP_SHAPE, load_shard, read_manifest
from training.export.embedder import staged_onnx

COMPACT_FORMS: tuple[Weights, ...] = ("fp16", "int8")
CALIBRATION_CROPS = 256  # ranges settle after a few hundred crops; more only costs export time
CALIBRATION_BATCH = 32  # crops per calibration run (x2 with the flips), like the service's chunks
RANDOM_CHECK_CROPS = 64  # fp16 without a data folder is checked on random uint8 crops
# Below these the conversion is broken, not merely lossy. Measured on ResNet20 width 0.25 with random
# weights (which quantise worse than trained ones): fp16 min cosine 0.99999+, int8 about 0.98.
MIN_COSINE: dict[str, float] = {"fp16": 0.999, "int8": 0.95}
FP16_MAX = float(np.finfo(np.float16).max)


class CompactParityError(RuntimeError):
    """The compact model's outputs are too far from the fp32 model's."""


def sample_crops(data_dir: Path, n: int = CALIBRATION_CROPS, *, seed: int = 0) -> np.ndarray:
    """(min(n, size), 112, 96, 3) uint8 crops drawn without replacement from a packed folder, spread over
    all its shards; deterministic for a given folder, n and seed. Only the chosen rows are read (mmap)."""
    manifest = read_manifest(data_dir)
    counts = np.array([shard.count for shard in manifest.shards], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        raise ValueError(f"{data_dir} holds no crops")
    chosen = np.sort(np.random.default_rng(seed).choice(total, size=min(n, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(counts)])
    parts = []
    for i, shard in enumerate(manifest.shards):
        rows = chosen[(chosen >= starts[i]) & (chosen < starts[i + 1])] - starts[i]
        if len(rows):
            crops = load_shard(data_dir, shard, mmap=True)[0]
            parts.append(np.asarray(crops[rows]))
    crops = np.concatenate(parts)
    if crops.dtype != np.uint8 or crops.shape[1:] != CROP_SHAPE:
        raise ValueError(f"{data_dir}: crops are {crops.dtype}{crops.shape[1:]}, not uint8{CROP_SHAPE}")
    return crops


def network_batches(crops: np.ndarray, batch: int = CALIBRATION_BATCH) -> Iterator[np.ndarray]:
    """Network inputs as the service builds them: preprocess(crops + their left-right mirrors)."""
    for i in range(0, len(crops), batch):
        yield preprocess_with_flips(crops[i:i + batch])


class CropReader(CalibrationDataReader):
    """Feeds quantize_static's calibration with network_batches(crops)."""

    def __init__(self, crops: np.ndarray, input_name: str, batch: int = CALIBRATION_BATCH) -> None:
        self._crops, self._input, self._batch = crops, input_name, batch
        self.rewind()

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._batches, None)
        return None if x is None else {self._input: x}

    def rewind(self) -> None:
        self._batches = network_batches(self._crops, self._batch)


def fp16_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` whose float32 initialisers are stored as float16, each followed by a Cast to
    float32 under the initialiser's old name: the rest of the graph (and its I/O) is untouched."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    if graph.sparse_initializer or any(n.op_type == "Constant" for n in graph.node):
        raise ValueError("fp16_weights handles dense initialisers only, not Constant nodes or sparse tensors")
    initializers, casts = [], []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            initializers.append(init)
            continue
        weights = numpy_helper.to_array(init)
        if np.abs(weights).max(initial=0) > FP16_MAX:
            raise ValueError(f"initialiser {init.name} exceeds the float16 range")
        half = numpy_helper.from_array(weights.astype(np.float16), f"{init.name}__fp16")
        initializers.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], name=f"{init.name}__to_fp32",
                                      to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    nodes = casts + list(graph.node)  # casts read only initialisers: first keeps the order topological
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def fp32_weights(model: onnx.ModelProto) -> onnx.ModelProto:
    """The inverse of fp16_weights: each float16 initialiser widened back under its float32 name and its Cast
    dropped (exact: every float16 is a float32)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    casts = {n.input[0]: n for n in graph.node if n.op_type == "Cast" and n.name.endswith("__to_fp32")}
    initializers = [
        numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float32), casts[init.name].output[0])
        if init.name in casts else init
        for init in graph.initializer
    ]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    dropped = {n.name for n in casts.values()}
    nodes = [n for n in graph.node if n.name not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def quantize_int8(src: Path, dst: Path, crops: np.ndarray) -> None:
    """Static QDQ int8 (u8 activations, 7-bit per-channel s8 weights, percentile ranges) of src, calibrated on
    crops; see the module doc for why these settings."""
    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="facever-quant-") as tmp:
        prepared = Path(tmp) / "preprocessed.onnx"
        quant_pre_process(str(src), str(prepared))
        quantize_static(
            str(prepared), str(dst), CropReader(crops, input_name),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
        )


def network_cosines(reference: Path, candidate: Path, crops: np.ndarray) -> np.ndarray:
    """Cosine between the two models' outputs for every crop and every mirrored crop (2N values)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    outputs = []
    for path in (reference, candidate):
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        outputs.append(np.concatenate([session.run(None, {name: x})[0] for x in network_batches(crops)]))
    a, b = (o.astype(np.float64) for o in outputs)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)


def compact_model(src_dir: Path, out_dir: Path, weights: Weights, *, calibration: Path | None = None,
                  n_crops: int = CALIBRATION_CROPS, seed: int = 0,
                  min_cosine: float | None = None, name: str | None = None) -> ModelCard:
    """Convert src_dir's fp32 (or, for int8, fp16) model into `weights` form in out_dir (model.onnx +
    model.json); see module doc.

    int8 needs `calibration` (a packed folder); fp16 is checked on its crops when given, else on random
    uint8 crops. Raises CompactParityError when the min cosine to fp32 is below min_cosine (default
    MIN_COSINE[weights]); the ONNX file goes in under a temporary name and the card is written last.
    `name` renames the card: a form shipped beside its source needs its own name (the gallery keys on it).
    Accuracy, thresholds and scoring cohort (cohort.npy is copied) stay the source's until `facever cohort
    --faces-of src_dir` and `facever calibrate` write the converted model's own.
    """
    if weights not in COMPACT_FORMS:
        raise ValueError(f"weights must be one of {COMPACT_FORMS}, got {weights!r}")
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if src_dir.resolve() == out_dir.resolve():
        raise ValueError("out_dir must differ from src_dir: the fp32 model is the source of the conversion")
    card = load_model_card(src_dir)
    src = src_dir / ONNX_FILE
    if card.weights not in ("fp32", "fp16") or card.weights == weights:
        raise ValueError(f"{src_dir} holds {card.weights} weights; convert to {weights} from the fp32 export")
    if file_sha256(src) != card.onnx_sha256:
        raise ValueError(f"{src} does not match its card's sha256")
    if weights == "int8" and calibration is None:
        raise ValueError("int8 needs calibration crops: pass a packed data folder (facever prepare)")
    if calibration is not None:
        crops = sample_crops(calibration, n_crops, seed=seed)
        checked_on = f"{len(crops)} crops (+ mirrors) sampled with seed {seed} from {calibration}"
    else:
        crops = np.random.default_rng(seed).integers(0, 256, (RANDOM_CHECK_CROPS, *CROP_SHAPE), dtype=np.uint8)
        checked_on = f"{len(crops)} random uint8 crops (+ mirrors), seed {seed}"

    with staged_onnx(out_dir) as tmp_path, tempfile.TemporaryDirectory(prefix="facever-fp32-") as tmp:
        if card.weights == "fp16":
            src = Path(tmp) / ONNX_FILE
            onnx.save(fp32_weights(onnx.load(str(src_dir / ONNX_FILE))), str(src))
        if weights == "fp16":
            onnx.save(fp16_weights(onnx.load(str(src))), str(tmp_path))
        else:
            quantize_int8(src, tmp_path, crops)
        cosines = network_cosines(src, tmp_path, crops)
        floor = MIN_COSINE[weights] if min_cosine is None else min_cosine
        if not cosines.min() >= floor:
            raise CompactParityError(f"{weights} vs fp32: min cosine {cosines.min():.6f} < {floor} on {checked_on}")
    onnx_path = out_dir / ONNX_FILE
    compact = card.updated(
        name=name or card.name, onnx_sha256=file_sha256(onnx_path), weights=weights,
        compaction=Compaction(
            source_sha256=card.onnx_sha256, checked_on=checked_on,
            min_cosine=round(float(cosines.min()), 8), mean_cosine=round(float(cosines.mean()), 8)),
    )
    if card.cohort is not None:  # the card names the source's cohort, like its thresholds, until `facever cohort`
        shutil.copyfile(src_dir / COHORT_FILE, out_dir / COHORT_FILE)
    compact.write(out_dir)
    return compact


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, help="fp32 model folder (model.onnx + model.json)")
    parser.add_argument("out", type=Path, help="new model folder")
    parser.add_argument("--weights", choices=COMPACT_FORMS, required=True)
    parser.add_argument("--calibration", type=Path, help="packed data folder (facever prepare); int8 needs it")
    parser.add_argument("--crops", type=int, default=CALIBRATION_CROPS, help="calibration/check crops")
    parser.add_argument("--name", help="the new card's name (default: the source's; use OUT's folder name when "
                                       "both are shipped)")
    args = parser.parse_args(argv)
    card = compact_model(args.src, args.out, args.weights, calibration=args.calibration, n_crops=args.crops,
                         name=args.name)
    size_mib = (args.out / ONNX_FILE).stat().st_size / 2**20
    print(f"wrote {args.out / ONNX_FILE} ({card.weights}, {size_mib:.1f} MiB, "
          f"min cosine to fp32 {card.compaction.min_cosine:.6f})")


if __name__ == "__main__":
    main()
