"""docs/reproduction.md's distillation section: rows (a)-(j) and the teacher's own row on all LFW pairs."""

from __future__ import annotations

import json
import re
from pathlib import Path

from training.distill.fit import Fit
from training.distill.rows import STEP_FACTORS
from training.distill.teacher import HOG, PHOTO
from training.face_repro.rows import Row
from training.face_repro.run import RowResult

SECTION = "distillation"


def teacher_line(report: Path, label: str = "teacher: dlib_face_recognition_resnet_model_v1 on our MTCNN box") -> str:
    """The teacher's row from `facever distill lfw`'s JSON (no Sep: it has no classifier; not trained here)."""
    if not report.exists():
        return "| teacher: dlib ResNet (not computed yet: `facever distill lfw`) | | | | | |"
    r = json.loads(report.read_text())["result"]
    tar = next(p["tar"] for p in r["tar_at_far"] if p["far"] == 1e-3)
    return (f"| {label} | {100 * r['mean_accuracy']:.2f} ± {100 * r['std_accuracy']:.2f} | {r['auc']:.4f} | "
            f"{100 * tar:.2f} % | — | — |")


def teacher_lines(report: Path) -> list[str]:
    """The teacher's row through the training path, then through the variants `facever distill lfw` measured."""
    variants = {PHOTO: "teacher: the same, dlib's chip cut from the photo (`--from-photo`)",
                HOG: "teacher: the same from the photo, in dlib's own HOG box where it finds the face (`--hog-box`)"}
    lines = [teacher_line(report, "teacher: dlib_face_recognition_resnet_model_v1 on our MTCNN box, via the "
                                  "loose crop (the training path)")]
    for source, label in variants.items():
        variant = report.with_name(report.name.replace(".json", f"-{source}.json"))
        lines += [teacher_line(variant, label)] if variant.exists() else []
    return lines


EARLIER = " (earlier run)"
KEPT_NOTE = (f"Rows marked{EARLIER} were trained and scored by the same command in an earlier run, on the same "
             "labelled faces; their result files were not kept.")


def earlier_lines(document: str) -> dict[str, str]:
    """The table lines of the section in `document`, by row label: a row whose result file is gone keeps its line."""
    lines = {}
    for line in document.split(f"<!-- {SECTION}:start -->")[-1].split(f"<!-- {SECTION}:end -->")[0].splitlines():
        found = re.match(r"\| (\([a-z]\) [^|]*?)(?:" + re.escape(EARLIER) + r")? \|", line)
        if found:
            lines[found.group(1)] = line if EARLIER in line else line.replace(found.group(1), found.group(1) + EARLIER, 1)
    return lines


def table(all_rows: list[Row], results: dict[str, RowResult], earlier: dict[str, str], teacher_report: Path,
          unlabelled_rows: set[str]) -> str:
    lines = ["| row | LFW % (10 folds) | ROC AUC | TAR @ FAR 1e-3 | Sep of W (mean) | training min |",
             "|---|---|---|---|---|---|"]
    for row in all_rows:
        r = results.get(row.key)
        if r is None:
            lines += [earlier[row.label]] if row.label in earlier else []
            continue
        sep = "—" if r.key in unlabelled_rows else f"{r.sep_mean:.3f}"  # W of a label-free row is never trained
        lines.append(f"| {r.label} | {100 * r.lfw_mean:.2f} ± {100 * r.lfw_std:.2f} | {r.auc:.4f} | "
                     f"{100 * r.tar_far_1e3:.2f} % | {sep} | {r.train_minutes:.0f} |")
    lines += teacher_lines(teacher_report)
    return "\n".join(lines)


FIT_INTRO = ("How closely each student follows the teacher (`--fit`, `training/distill/fit.py`): on a sample of "
             "{faces} faces of each set, the mean cosine between the mapped feature P f and the centred teacher "
             "vector t - m (1 - L_feat), and between every two faces of the sample the RMSE and Pearson r of the "
             "student's cosine against the teacher's mapped cosine (the relational term's target). A student "
             "that fits the faces it trained on much better than unseen ones is short of data; one that fits "
             "neither is short of capacity or steps.")


def fit_table(all_rows: list[Row], fits: dict[str, list[Fit]]) -> str:
    lines = ["| row | faces | seen in training | feature cosine | pair cosine RMSE | pair cosine r |",
             "|---|---|---|---|---|---|"]
    for row in all_rows:
        for f in fits.get(row.key, []):
            lines.append(f"| {row.label} | {f.faces} ({f.count:,}) | {'yes' if f.seen else 'no'} | "
                         f"{f.feature_cosine:.3f} | {f.relation_rmse:.3f} | {f.relation_r:.3f} |")
    return "\n".join(lines)


def section(command: str, epochs: float, all_rows: list[Row], results: dict[str, RowResult],
            teacher_report: Path, earlier: dict[str, str], fits: dict[str, list[Fit]] | None = None) -> str:
    """The section's text; `earlier` (from earlier_lines) keeps the lines of rows whose result file is gone;
    `fits` (row key -> training.distill.fit results) adds the fit table."""
    fits = fits or {}
    missing = [r.label for r in all_rows if r.key not in results and r.label not in earlier]
    label_free = {r.key for r in all_rows if "distill.use_labels=false" in r.overrides}
    longer = " and ".join(f"({key})" for key in STEP_FACTORS)  # the rows that train twice the common steps
    return "\n".join([
        f"### Distillation from dlib's face network (same steps, seed and schedule for every row but {longer})", "",
        (f"Produced by `{command}` (each row trains once and is kept; re-running adds missing rows) and "
         "`facever distill lfw` (with the option each names) for the teacher's rows. Recipe `training/configs/cpu_distill.yaml`: ResNet20 × 0.25, "
         f"{epochs:g} epochs over CelebA + CACD (labelled) and the unlabelled faces, batch 128, SGD lr 0.1 cosine, "
         f"seed 0; every row but {longer}, which take twice as many, takes the same number of steps, so a row with fewer "
         "faces (no unlabelled ones) runs more epochs and one with more (UTKFace added) fewer. The rows' changes are in `training/distill/rows.py`. LFW: all 6,000 pairs, orig + flip, "
         "threshold from the other 9 folds; training faces that near-duplicate an LFW image are left out."), "",
        table(all_rows, results, earlier, teacher_report, label_free), "",
        *([KEPT_NOTE, ""] if any(r.key not in results and r.label in earlier for r in all_rows) else []),
        *(["Not run yet: " + "; ".join(missing) + ".", ""] if missing else []),
        *([FIT_INTRO.format(faces=f"up to {max(f.count for fs in fits.values() for f in fs):,}"), "", fit_table(all_rows, fits), ""] if fits else []),
    ])
