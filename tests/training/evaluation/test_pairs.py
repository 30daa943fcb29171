"""Pair lists: LFW's pairs.txt parsed into 10 folds of 300 + 300, generic CSV/TSV lists, subsets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.evaluation import PairList, read_pair_list


def test_lfw_pairs_has_ten_folds_of_300_same_and_300_different(lfw_all_pairs: PairList) -> None:
    pairs = lfw_all_pairs
    assert len(pairs) == 6000 and pairs.n_folds == 10
    for fold in range(10):
        in_fold = pairs.folds == fold
        assert in_fold.sum() == 600
        assert pairs.same[in_fold].sum() == 300
    # the first line of fold 0 is "Abel_Pacheco 1 4"; the 301st is the first different pair
    assert pairs.path_a[0].name == "Abel_Pacheco_0001.jpg" and pairs.path_b[0].name == "Abel_Pacheco_0004.jpg"
    assert not pairs.same[300] and pairs.path_a[300].parent.name != pairs.path_b[300].parent.name


def test_every_lfw_image_the_pairs_use_exists(lfw_all_pairs: PairList) -> None:
    assert len(lfw_all_pairs.unique_paths()) < 2 * len(lfw_all_pairs)  # images recur across pairs
    assert lfw_all_pairs.missing_paths() == []


def test_first_per_fold_takes_the_leading_same_and_different_pairs(lfw_all_pairs: PairList) -> None:
    subset = lfw_all_pairs.first_per_fold(3, folds=2)
    assert len(subset) == 12 and list(np.unique(subset.folds)) == [0, 1]
    assert subset.path_a[:3] == lfw_all_pairs.path_a[:3] and subset.path_a[3:6] == lfw_all_pairs.path_a[300:303]


def test_generic_csv_with_header_and_folds(tmp_path: Path) -> None:
    csv = tmp_path / "list.csv"
    csv.write_text("a,b,same,fold\nx/1.jpg,x/2.jpg,1,7\nx/1.jpg,y/1.jpg,0,7\n/abs/p.jpg,y/2.jpg,false,9\n")
    pairs = read_pair_list(csv)
    assert pairs.path_a == (tmp_path / "x/1.jpg", tmp_path / "x/1.jpg", Path("/abs/p.jpg"))
    assert pairs.same.tolist() == [True, False, False]
    assert pairs.folds.tolist() == [0, 0, 1]  # fold labels renumbered 0..K-1
    assert pairs.missing_paths() == [tmp_path / "x/1.jpg", Path("/abs/p.jpg"), tmp_path / "x/2.jpg",
                                     tmp_path / "y/1.jpg", tmp_path / "y/2.jpg"]


def test_generic_tsv_without_folds_is_cut_into_contiguous_blocks(tmp_path: Path) -> None:
    tsv = tmp_path / "list.tsv"
    tsv.write_text("".join(f"a{i}.jpg\tb{i}.jpg\t{i % 2}\n" for i in range(20)))
    pairs = read_pair_list(tsv, root="/data", n_folds=4)
    assert pairs.path_b[0] == Path("/data/b0.jpg")
    assert pairs.folds.tolist() == [i // 5 for i in range(20)]


def test_generic_list_rejects_an_unknown_same_flag(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text("a.jpg,b.jpg,1\na.jpg,c.jpg,maybe\n")
    with pytest.raises(ValueError, match="maybe"):
        read_pair_list(csv)
