"""Distillation in the training loop: labelled + unlabelled faces, LFW near-duplicates dropped, exact resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from training.checkpoint import load_checkpoint  # noqa: E402
from training.config import TrainConfig, load_config  # noqa: E402
from training.data.dataset import PackedFaces  # noqa: E402
from training.distill.cache import load_teacher_vectors  # noqa: E402
from training.distill.dataset import UNLABELLED, DistillFaces  # noqa: E402
from training.distill.fit import FaceSample, checkpoint_fit, packed_sample  # noqa: E402
from training.distill.overlap import find_overlap  # noqa: E402
from training.distill.report import KEPT_NOTE, earlier_lines, section  # noqa: E402
from training.distill.rows import NO_IAM, NO_RF, NO_TEACHER, NO_UNLABELLED, row_epochs, rows  # noqa: E402
from training.evaluation.features import Features  # noqa: E402
from training.face_repro.rows import Row  # noqa: E402
from training.face_repro.run import RowResult  # noqa: E402
from training.train import train  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"


@pytest.fixture(scope="module")
def folders(taught: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(labelled, unlabelled) copies of the tiny taught folder; LFW 'contains' faces 1 and 5 of the labelled one."""
    root = tmp_path_factory.mktemp("distill")
    labelled, unlabelled = (Path(shutil.copytree(taught, root / name)) for name in ("labelled", "unlabelled"))
    vectors = load_teacher_vectors(labelled)
    rng = np.random.default_rng(0)
    strangers = rng.normal(size=(3, vectors.shape[1])).astype(np.float32)
    strangers /= np.linalg.norm(strangers, axis=1, keepdims=True)
    lfw = Features(("lfw/a.jpg", "lfw/b.jpg", "lfw/c.jpg", "lfw/d.jpg", "lfw/e.jpg"),
                   np.concatenate([vectors[[1, 5]], strangers]), np.zeros(5, bool))
    assert find_overlap(labelled, lfw, threshold=0.999).excluded == [1, 5]  # other photos of a person score less
    find_overlap(unlabelled, Features(lfw.paths[2:], strangers, np.zeros(3, bool)))
    return labelled, unlabelled


def test_near_duplicates_are_dropped_and_unlabelled_faces_keep_no_label(folders: tuple[Path, Path]) -> None:
    labelled, unlabelled = folders
    groups = ["00015"]  # only the first identity folder of the unlabelled copy
    data = DistillFaces(labelled, [unlabelled], unlabelled_groups=groups)
    assert (len(data), data.labelled_count, data.dropped) == (7 + 3, 7, 2)
    assert data.parts[0][0].source_index.tolist() == [0, 2, 3, 4, 6, 7, 8]
    x, label, teacher = data[len(data) - 1]
    assert label == UNLABELLED and x.shape == (3, 112, 96) and teacher.shape == (128,)
    assert [data[i][1] for i in range(7)] == data.parts[0][0].labels.tolist()
    np.testing.assert_allclose(np.linalg.norm(data.teacher, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(data.teacher_mean, data.teacher.mean(axis=0))
    everything = DistillFaces(labelled, use_labels=False, drop_overlap=False)
    assert len(everything) == 9 and {everything[i][1] for i in range(9)} == {UNLABELLED}


def test_a_folder_never_searched_for_lfw_duplicates_is_refused(taught: Path) -> None:
    with pytest.raises(FileNotFoundError, match="facever distill overlap"):
        DistillFaces(taught)


def _cfg(folders: tuple[Path, Path], out: Path, *overrides: str) -> TrainConfig:
    labelled, unlabelled = folders
    return load_config(CONFIGS / "tiny_cpu.yaml", [
        f"data.dir={labelled}", f"out_dir={out}", "loss.base=cosface", "loss.m=0.35", "loss.lambda_=1",
        "loss.beta=0.5", "epochs=8", "max_steps=8", f"distill={{weight: 5, relation_weight: 2, "
        f"unlabelled: [{unlabelled}]}}", *overrides])


def test_training_with_a_teacher_learns_it_and_resumes_exactly(folders: tuple[Path, Path], tmp_path: Path) -> None:
    straight = train(_cfg(folders, tmp_path / "a"))
    assert straight.steps == 8
    state = load_checkpoint(straight.checkpoint)
    assert state["distill"]["projection.weight"].shape == (128, 512)
    first = train(_cfg(folders, tmp_path / "b", "max_steps=4"))
    resumed = train(_cfg(folders, tmp_path / "b"))
    assert first.steps == 4 and resumed.steps == 8
    b = load_checkpoint(resumed.checkpoint)
    for part in ("backbone", "loss", "distill"):
        for key, tensor in state[part].items():
            assert torch.equal(tensor, b[part][key]), f"{part}.{key}"
    assert first.losses + resumed.losses == straight.losses


def test_rows_cover_the_comparison_and_share_the_step_count(folders: tuple[Path, Path]) -> None:
    by_key = {r.key: r for r in rows()}
    assert list(by_key)[0] == "e" and set(by_key) == set("abcdefghijk")
    assert {NO_TEACHER, NO_UNLABELLED} <= set(by_key["a"].overrides)
    assert "distill.use_labels=false" in by_key["b"].overrides and "loss.beta=0" in by_key["b"].overrides
    assert NO_UNLABELLED not in by_key["e"].overrides and NO_UNLABELLED in by_key["f"].overrides
    assert not {NO_TEACHER, NO_UNLABELLED, NO_RF, NO_IAM} & set(by_key["e"].overrides)  # (e) is the recipe as is
    labelled, unlabelled = folders
    extra = (f"data.dir={labelled}", f"distill.unlabelled=[{unlabelled}]")
    # 7 labelled faces (2 dropped as LFW copies) + 9 unlabelled: the labelled-only rows run 16/7 as many epochs
    assert row_epochs(by_key["f"], 7.0, extra) == 16.0 and row_epochs(by_key["e"], 7.0, extra) == 7.0
    assert row_epochs(by_key["i"], 7.0, extra) == 14.0 and "width=0.5" in by_key["j"].overrides
    assert row_epochs(by_key["j"], 7.0, extra) == 7.0  # a wider network, the same steps
    assert by_key["k"].overrides == by_key["g"].overrides  # (g)'s faces at (i)'s step factor
    more = Row("m", "more unlabelled faces", (f"distill.unlabelled=[{unlabelled},{unlabelled}]",))
    assert row_epochs(more, 7.0, extra) == round(7.0 * 16 / 25, 3)  # 7 + 2 x 9 faces take 16 faces' steps
    longer = Row("k", "(k)", more.overrides)  # keyed "k": STEP_FACTORS doubles its steps
    assert row_epochs(longer, 7.0, extra) == round(14.0 * 16 / 25, 3)
    missing = Row("u", "a folder not prepared", (f"distill.unlabelled=[{unlabelled.parent / 'absent'}]",))
    with pytest.raises(FileNotFoundError):
        row_epochs(missing, 7.0, extra)


def test_the_report_shows_each_row_and_the_teacher(tmp_path: Path) -> None:
    result = RowResult("e", "(e) KD + CosFace + RF + IAM", [], 6.0, 8, 100, 0.95, 0.01, 0.99, 0.8, 0.1, 0.01, 42.0, "x")
    label_free = RowResult("b", "(b) KD only, no labels", [], 0.0, 8, 100, 0.9, 0.02, 0.98, 0.7, 0.5, 0.01, 40.0, "y")
    report = tmp_path / "lfw-teacher.json"
    report.write_text(json.dumps({"result": {"mean_accuracy": 0.9882, "std_accuracy": 0.0051, "auc": 0.9992,
                                             "tar_at_far": [{"far": 1e-3, "tar": 0.966}]}}))
    text = section("facever distill rows", 8, rows(), {"e": result, "b": label_free}, report, {})
    assert "| (e) KD + CosFace + RF + IAM | 95.00 ± 1.00 | 0.9900 | 80.00 % | 0.100 | 42 |" in text
    assert "| (b) KD only, no labels | 90.00 ± 2.00 | 0.9800 | 70.00 % | — | 40 |" in text  # W never trained
    assert "| 98.82 ± 0.51 | 0.9992 | 96.60 % |" in text and "(`--from-photo`) |" not in text
    assert "for every row but (i) and (k))" in text  # the rows that train longer are named from STEP_FACTORS
    (tmp_path / "lfw-teacher-photo.json").write_text(json.dumps({"result": {
        "mean_accuracy": 0.9912, "std_accuracy": 0.004, "auc": 0.9995, "tar_at_far": [{"far": 1e-3, "tar": 0.97}]}}))
    text = section("facever distill rows", 8, rows(), {"e": result}, report, {})
    assert "cut from the photo (`--from-photo`) | 99.12 ± 0.40 | 0.9995 | 97.00 % |" in text
    assert text.count("Not run yet") == 1 and "(a) CosFace + RF + IAM" in text.split("Not run yet")[1]


def test_a_row_whose_result_is_gone_keeps_its_line_marked_earlier(tmp_path: Path) -> None:
    result = RowResult("e", "(e) KD + CosFace + RF + IAM", [], 6.0, 8, 100, 0.95, 0.01, 0.99, 0.8, 0.1, 0.01, 42.0, "x")
    report = tmp_path / "lfw-teacher.json"
    old = section("facever distill rows", 8, rows(), {"e": result}, report, {})
    document = f"# Reproduction report\n\n<!-- distillation:start -->\n{old}\n<!-- distillation:end -->\n"
    newer = RowResult("c", "(c) KD + CosFace", [], 0.0, 8, 100, 0.96, 0.01, 0.99, 0.8, 0.1, 0.01, 41.0, "y")
    text = section("facever distill rows", 8, rows(), {"c": newer}, report, earlier_lines(document))
    assert "| (e) KD + CosFace + RF + IAM (earlier run) | 95.00 ± 1.00 | 0.9900 | 80.00 % | 0.100 | 42 |" in text
    assert "| (c) KD + CosFace | 96.00 ± 1.00 |" in text and KEPT_NOTE in text
    assert "(e) KD" not in text.split("Not run yet")[1]
    document = document.replace(old, text)  # kept twice: marked once
    assert earlier_lines(document)["(e) KD + CosFace + RF + IAM"].count("(earlier run)") == 1


def test_the_fit_to_the_teacher_tells_seen_from_unseen_faces(folders: tuple[Path, Path], tmp_path: Path) -> None:
    labelled, unlabelled = folders
    faces = PackedFaces(labelled, train=False)
    lfw = FaceSample("LFW", None, np.stack([faces.crop(i) for i in range(5)]),  # any crops with vectors
                     load_teacher_vectors(labelled)[faces.source_index[:5]])
    samples = [packed_sample(labelled, 5), packed_sample(unlabelled, 5), lfw]
    without = train(_cfg(folders, tmp_path / "f", "max_steps=2", "batch_size=4", "distill.unlabelled=[]"))
    fits = checkpoint_fit(without.checkpoint, samples)
    expected = [("labelled", True, 5), ("unlabelled", False, 5), ("LFW", False, 5)]
    assert [(f.faces, f.seen, f.count) for f in fits] == expected
    assert all(-1 <= f.feature_cosine <= 1 and -1 <= f.relation_r <= 1 and f.relation_rmse >= 0 for f in fits)
    no_teacher = train(_cfg(folders, tmp_path / "a", "max_steps=2", "distill.weight=0"))
    assert checkpoint_fit(no_teacher.checkpoint, samples) is None
    result = RowResult("f", "(f) = (e) without the unlabelled faces", [], 6.0, 8, 2, 0.9, 0.01, 0.98, 0.7, 0.1, 0.01,
                       1.0, str(without.checkpoint))
    text = section("facever distill rows", 8, rows(), {"f": result}, tmp_path / "none.json", {}, {"f": fits})
    assert f"| (f) = (e) without the unlabelled faces | unlabelled (5) | no | {fits[1].feature_cosine:.3f} |" in text
    assert "up to 5 faces" in text
