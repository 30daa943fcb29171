"""The aligned-crop cache: a round trip, and a miss when the image list or its order differs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.evaluation import AlignedSet, cache_file, load_crops, save_crops


def test_round_trip_and_misses(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    aligned = AlignedSet(("a.jpg", "b.jpg"), rng.integers(0, 256, (2, 112, 96, 3), dtype=np.uint8),
                         np.array([False, True]))
    target = cache_file(tmp_path, aligned.paths, "tag")
    save_crops(target, aligned)
    loaded = load_crops(target, ["a.jpg", "b.jpg"])
    assert loaded is not None and loaded.paths == aligned.paths and loaded.n_fallback == 1
    np.testing.assert_array_equal(loaded.crops, aligned.crops)
    assert load_crops(target, ["b.jpg", "a.jpg"]) is None
    assert load_crops(tmp_path / "absent.npz", ["a.jpg"]) is None
    assert cache_file(tmp_path, aligned.paths, "other detector settings") != target
    assert list(tmp_path.iterdir()) == [target]  # the partial file was renamed into place
