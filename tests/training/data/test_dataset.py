"""PackedFaces and make_loader: label remap, the service's normalisation, train-only flips, batch shapes."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from service.vision.embedder import preprocess
from tests.training.data.conftest import IDENTITIES, PER_IDENTITY
from training.data.dataset import PackedFaces, make_loader
from training.data.prepare import PrepareReport


@pytest.fixture(scope="module")
def data_dir(prepared: tuple[Path, PrepareReport]) -> Path:
    return prepared[0]


def test_identities_without_crops_are_not_classes(data_dir: Path) -> None:
    dataset = PackedFaces(data_dir)
    assert dataset.num_classes == len(IDENTITIES) and dataset.identities == list(IDENTITIES)
    assert len(dataset) == len(IDENTITIES) * PER_IDENTITY
    assert "9 images, 3 identities, images per identity min 3 / median 3 / max 3" in dataset.stats()


def test_identity_subset_is_remapped_to_0_c(data_dir: Path) -> None:
    dataset = PackedFaces(data_dir, identities=[IDENTITIES[2], IDENTITIES[1]])
    assert dataset.num_classes == 2 and dataset.identities == [IDENTITIES[1], IDENTITIES[2]]
    assert [dataset[i][1] for i in range(len(dataset))] == [0] * PER_IDENTITY + [1] * PER_IDENTITY
    with pytest.raises(KeyError):
        PackedFaces(data_dir, identities=["nobody"])


def test_eval_items_are_preprocess_of_the_crop(data_dir: Path) -> None:
    dataset = PackedFaces(data_dir, train=False)
    for i in range(len(dataset)):
        x, _ = dataset[i]
        assert x.dtype == torch.float32 and x.shape == (3, 112, 96)
        np.testing.assert_array_equal(x.numpy(), preprocess(dataset.crop(i)[None])[0])


def test_flips_only_in_train_mode(data_dir: Path) -> None:
    crop = PackedFaces(data_dir).crop(0)
    plain, flipped = preprocess(crop[None])[0], preprocess(np.ascontiguousarray(crop[:, ::-1])[None])[0]
    torch.manual_seed(0)
    seen = [PackedFaces(data_dir, train=train)[0][0].numpy() for train in [True] * 16 + [False] * 16]
    was_flipped = [np.array_equal(x, flipped) for x in seen]
    assert all(np.array_equal(x, plain) or f for x, f in zip(seen, was_flipped, strict=True))
    assert 0 < sum(was_flipped[:16]) < 16 and not any(was_flipped[16:])


def test_loader_batches_and_seeded_order(data_dir: Path) -> None:
    dataset = PackedFaces(data_dir)
    batches = list(make_loader(dataset, 4, shuffle=True, workers=0, seed=1))
    assert len(batches) == 2 and all(x.shape == (4, 3, 112, 96) and y.shape == (4,) for x, y in batches)
    again = list(make_loader(dataset, 4, shuffle=True, workers=0, seed=1))
    assert [y.tolist() for _, y in batches] == [y.tolist() for _, y in again]


def test_loader_workers_reopen_the_shards(data_dir: Path) -> None:
    dataset = PackedFaces(data_dir, train=False)
    dataset.crop(0)  # maps the shards; pickling must not carry the maps
    assert pickle.loads(pickle.dumps(dataset))._crops is None
    labels = [y for _, y in make_loader(dataset, 3, shuffle=False, workers=2)]
    assert torch.cat(labels).tolist() == dataset.labels.tolist()
