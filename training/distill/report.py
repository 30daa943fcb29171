"""docs/reproduction.md's distillation section: rows (a)-(f) and the teacher's own row on all LFW pairs."""

from __future__ import annotations

import json
from pathlib import Path

from training.face_repro.rows import Row
from training.face_repro.run import RowResult

SECTION = "distillation"


def teacher_line(report: Path) -> str:
    """The teacher's row from `facever distill lfw`'s JSON (no Sep: it has no classifier; not trained here)."""
    if not report.exists():
        return "| teacher: dlib ResNet (not computed yet: `facever distill lfw`) | | | | | |"
    r = json.loads(report.read_text())["result"]
    tar = next(p["tar"] for p in r["tar_at_far"] if p["far"] == 1e-3)
    return (f"| teacher: dlib_face_recognition_resnet_model_v1 on our MTCNN box | {100 * r['mean_accuracy']:.2f} ± "
            f"{100 * r['std_accuracy']:.2f} | {r['auc']:.4f} | {100 * tar:.2f} % | — | — |")


def table(results: list[RowResult], teacher_report: Path, unlabelled_rows: set[str]) -> str:
    lines = ["| row | LFW % (10 folds) | ROC AUC | TAR @ FAR 1e-3 | Sep of W (mean) | training min |",
             "|---|---|---|---|---|---|"]
    for r in results:
        sep = "—" if r.key in unlabelled_rows else f"{r.sep_mean:.3f}"  # W of a label-free row is never trained
        lines.append(f"| {r.label} | {100 * r.lfw_mean:.2f} ± {100 * r.lfw_std:.2f} | {r.auc:.4f} | "
                     f"{100 * r.tar_far_1e3:.2f} % | {sep} | {r.train_minutes:.0f} |")
    lines.append(teacher_line(teacher_report))
    return "\n".join(lines)


def section(command: str, epochs: float, all_rows: list[Row], results: dict[str, RowResult],
            teacher_report: Path) -> str:
    ran = [results[r.key] for r in all_rows if r.key in results]
    missing = [r.label for r in all_rows if r.key not in results]
    label_free = {r.key for r in all_rows if "distill.use_labels=false" in r.overrides}
    return "\n".join([
        "### Distillation from dlib's face network (same steps, seed and schedule for every row)", "",
        (f"Produced by `{command}` (each row trains once and is kept; re-running adds missing rows) and "
         "`facever distill lfw` for the teacher's row. Recipe `training/configs/cpu_distill.yaml`: ResNet20 × 0.25, "
         f"{epochs:g} epochs over CelebA + CACD (labelled) and the unlabelled faces, batch 128, SGD lr 0.1 cosine, "
         "seed 0; the rows without unlabelled faces run more epochs so that every row takes the same number of "
         "steps. The rows' changes are in `training/distill/rows.py`. LFW: all 6,000 pairs, orig + flip, "
         "threshold from the other 9 folds; training faces that near-duplicate an LFW image are left out."), "",
        table(ran, teacher_report, label_free), "",
        *(["Not run yet: " + "; ".join(missing) + ".", ""] if missing else []),
    ])
