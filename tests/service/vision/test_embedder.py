"""Embedder on the random placeholder: contract (shape, norm, flip), batching, card, failures, parity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import service.vision.embedder as embedder_module
from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision.embedder import Embedder, preprocess
from service.vision.model_card import (
    CARD_FILE,
    ONNX_FILE,
    EmbeddingSpec,
    load_model_card,
)


@pytest.fixture(scope="module")
def embedder(random_embedder_dir: Path) -> Embedder:
    return Embedder(random_embedder_dir, threads=2)


def copy_with_card(src: Path, dst: Path, **changes: object) -> Path:
    """A model dir sharing src's ONNX file (symlink, it is 87 MB) with a card edited by `changes`."""
    dst.mkdir()
    (dst / ONNX_FILE).symlink_to(src / ONNX_FILE)
    card = json.loads((src / CARD_FILE).read_text())
    for dotted, value in changes.items():
        *parents, key = dotted.split("__")
        node = card
        for parent in parents:
            node = node[parent]
        node[key] = value
    (dst / CARD_FILE).write_text(json.dumps(card))
    return dst


def test_shape_dtype_unit_norm(embedder: Embedder, lfw_crops: np.ndarray) -> None:
    emb = embedder.embed(lfw_crops)
    assert embedder.dim == 1024 and embedder.card.name == "resnet20-random"
    assert emb.shape == (len(lfw_crops), 1024) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert np.abs(emb[0] - emb[1]).max() > 1e-3  # different faces, different vectors


def test_flip_swaps_the_halves(embedder: Embedder, lfw_crops: np.ndarray) -> None:
    emb = embedder.embed(lfw_crops)
    flipped = embedder.embed(np.ascontiguousarray(lfw_crops[:, :, ::-1]))
    np.testing.assert_allclose(flipped, np.concatenate([emb[:, 512:], emb[:, :512]], axis=1), atol=1e-5)


def test_batch_invariance_and_chunking(
    embedder: Embedder, lfw_crops: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = embedder.embed(lfw_crops)
    one_by_one = np.concatenate([embedder.embed(crop[None]) for crop in lfw_crops])
    np.testing.assert_allclose(one_by_one, batch, atol=1e-5)
    monkeypatch.setattr(embedder_module, "CHUNK", 2)  # 5 crops -> runs of 2, 2, 1
    np.testing.assert_allclose(embedder.embed(lfw_crops), batch, atol=1e-5)


def test_empty_batch_and_bad_crops(embedder: Embedder, lfw_crops: np.ndarray) -> None:
    empty = embedder.embed(np.zeros((0, 112, 96, 3), np.uint8))
    assert empty.shape == (0, 1024) and empty.dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        embedder.embed(lfw_crops.astype(np.float32))
    with pytest.raises(ValueError, match="112, 96, 3"):
        embedder.embed(lfw_crops[:, :100])


def test_preprocess_is_the_contract(lfw_crops: np.ndarray) -> None:
    x = preprocess(lfw_crops)
    assert x.shape == (5, 3, 112, 96) and x.dtype == np.float32
    np.testing.assert_array_equal(x[1, 2], (lfw_crops[1, :, :, 2].astype(np.float32) - 127.5) / 128)
    black_white = np.zeros((1, 112, 96, 3), np.uint8)
    black_white[:, :, 48:] = 255
    x = preprocess(black_white)
    assert (x[..., :48] == -127.5 / 128).all() and (x[..., 48:] == 127.5 / 128).all()


def test_from_settings(random_embedder_dir: Path, lfw_crops: np.ndarray, embedder: Embedder) -> None:
    settings = Settings(models_dir=random_embedder_dir.parent, embedder=random_embedder_dir.name, threads=1)
    np.testing.assert_allclose(Embedder.from_settings(settings).embed(lfw_crops[:2]),
                               embedder.embed(lfw_crops[:2]), atol=1e-5)


def test_sha_mismatch_is_invalid_model(random_embedder_dir: Path, tmp_path: Path) -> None:
    bad = copy_with_card(random_embedder_dir, tmp_path / "m", onnx_sha256="0" * 64)
    with pytest.raises(FaceverError) as err:
        Embedder(bad)
    assert err.value.code is ErrorCode.invalid_model and "sha256" in err.value.message


@pytest.mark.parametrize("field, value", [("input__mean", 128.0), ("embedding__dim", 2048)])
def test_card_not_matching_the_model_is_invalid(
    random_embedder_dir: Path, tmp_path: Path, field: str, value: object
) -> None:
    with pytest.raises(FaceverError) as err:
        Embedder(copy_with_card(random_embedder_dir, tmp_path / "m", **{field: value}))
    assert err.value.code is ErrorCode.invalid_model


def test_unreadable_card_is_invalid_model(tmp_path: Path) -> None:
    (tmp_path / CARD_FILE).write_text("{not json")
    with pytest.raises(FaceverError) as err:
        load_model_card(tmp_path)
    assert err.value.code is ErrorCode.invalid_model
    (tmp_path / CARD_FILE).write_text(json.dumps({"name": "x", "version": "1", "onnx_sha256": "abc"}))
    with pytest.raises(FaceverError) as err:
        load_model_card(tmp_path)
    assert err.value.code is ErrorCode.invalid_model


def test_missing_model_is_model_unavailable(random_embedder_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FaceverError) as err:
        Embedder(tmp_path / "no-such-model")
    assert err.value.code is ErrorCode.model_unavailable
    (tmp_path / "card-only").mkdir()
    shutil.copy(random_embedder_dir / CARD_FILE, tmp_path / "card-only" / CARD_FILE)
    with pytest.raises(FaceverError) as err:
        Embedder(tmp_path / "card-only")
    assert err.value.code is ErrorCode.model_unavailable


def test_cuda_without_cuda_is_device_unavailable(random_embedder_dir: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime build has CUDA")
    with pytest.raises(FaceverError) as err:
        Embedder(random_embedder_dir, device="cuda")
    assert err.value.code is ErrorCode.device_unavailable and "onnxruntime-gpu" in err.value.message


def test_card_round_trip(random_embedder_dir: Path, tmp_path: Path) -> None:
    card = load_model_card(random_embedder_dir)
    assert card.training.seed == 0 and "plumbing tests only" in card.training.notes
    assert card.embedding.fusion == "concat_flip" and card.embedding.feature_dim == 512
    changed = card.model_copy(update={"thresholds": card.thresholds.model_copy(
        update={"far_1e_3": 0.42, "calibrated_on": "LFW 10-fold"})})
    changed.write(tmp_path)
    raw = json.loads((tmp_path / CARD_FILE).read_text())
    assert raw["thresholds"]["far_1e-3"] == 0.42 and "lambda" in raw["training"]  # JSON keys use aliases
    assert load_model_card(tmp_path) == changed


def test_export_parity_torch_vs_onnxruntime(
    random_embedder_dir: Path, lfw_crops: np.ndarray, embedder: Embedder
) -> None:
    torch = pytest.importorskip("torch")
    from training.export.embedder import ExportParityError, check_parity
    from training.nets import build_embedder

    net = build_embedder(0).eval()  # the placeholder's seed: the same weights as the ONNX file
    assert check_parity(net, random_embedder_dir / ONNX_FILE, batch=3) <= 1e-4
    with pytest.raises(ExportParityError):
        check_parity(build_embedder(1).eval(), random_embedder_dir / ONNX_FILE, batch=2)
    # the served embedding equals the contract computed in torch on real crops
    with torch.no_grad():
        both = np.concatenate([lfw_crops, lfw_crops[:, :, ::-1]])
        feats = net(torch.from_numpy(preprocess(both))).numpy()
    ref = np.concatenate([feats[:5], feats[5:]], axis=1)
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(embedder.embed(lfw_crops), ref, atol=1e-5)


def test_export_checks_dims_and_serves_fusion_none(tmp_path: Path, lfw_crops: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    from training.export.embedder import export_embedder

    tiny = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 112 * 96, 8))
    with pytest.raises(ValueError, match="8 features"):
        export_embedder(tiny, tmp_path / "wrong", name="tiny")  # default card: 2 x 512
    assert not (tmp_path / "wrong" / ONNX_FILE).exists()
    card = export_embedder(tiny, tmp_path / "tiny", name="tiny",
                           embedding=EmbeddingSpec(dim=8, fusion="none", normalised=False))
    emb = Embedder(tmp_path / "tiny").embed(lfw_crops)
    with torch.no_grad():
        ref = tiny(torch.from_numpy(preprocess(lfw_crops))).numpy()
    assert card.embedding.dim == 8
    np.testing.assert_allclose(emb, ref, atol=1e-4)
