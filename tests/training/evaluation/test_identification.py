"""Closed-set rank-1 on synthetic unit vectors: the gallery/probe split, with and without distractors."""

from __future__ import annotations

import numpy as np
import pytest

from training.evaluation import gallery_probe_split, rank1


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n_ids: int, per_id: int, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = _unit(rng.normal(size=(n_ids, 64)))
    labels = np.repeat(np.arange(n_ids), per_id)
    return _unit(centres[labels] + noise * rng.normal(size=(len(labels), 64))), labels


def test_split_puts_the_first_image_in_the_gallery_and_drops_singletons() -> None:
    split = gallery_probe_split(np.array(["b", "a", "b", "c", "a", "b"]))
    assert split.gallery.tolist() == [0, 1]  # "c" has one image: no probe, not enrolled
    assert split.probes.tolist() == [2, 4, 5]


def test_tight_clusters_are_all_identified() -> None:
    features, labels = _clustered(20, 4, noise=0.05)
    result = rank1(features, labels)
    assert result.rank1 == 1.0
    assert (result.n_gallery, result.n_probes, result.n_distractors) == (20, 60, 0)


def test_a_distractor_on_top_of_each_probe_makes_every_probe_miss() -> None:
    features, labels = _clustered(10, 3, noise=0.05)
    split = gallery_probe_split(labels)
    result = rank1(features, labels, distractors=features[split.probes])
    assert result.rank1 == 0.0 and result.n_distractors == len(split.probes)


def test_far_distractors_change_nothing_and_noise_lowers_rank1() -> None:
    features, labels = _clustered(20, 4, noise=0.05)
    assert rank1(features, labels, distractors=-features[:5]).rank1 == 1.0
    noisy, noisy_labels = _clustered(20, 4, noise=3.0, seed=1)
    assert rank1(noisy, noisy_labels).rank1 < 0.9


def test_rank1_needs_an_identity_with_two_images() -> None:
    with pytest.raises(ValueError, match="two or more"):
        rank1(np.eye(3, dtype=np.float32), np.arange(3))
