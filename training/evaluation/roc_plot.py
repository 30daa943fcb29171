"""ROC curves of one or several verification results as a PNG (log-scale FAR axis)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure  # no pyplot: no global state or display backend needed

from training.evaluation.verification import VerificationResult


def plot_roc(results: dict[str, VerificationResult], path: str | Path, title: str = "ROC") -> Path:
    """Draw TAR against FAR for each labelled result, marking each TAR@FAR point, and save to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for label, result in results.items():
        curve = result.roc
        positive = curve.fpr > 0  # log axis: FAR = 0 cannot be drawn
        line, = ax.plot(curve.fpr[positive], curve.tpr[positive],
                        label=f"{label} (AUC {curve.auc:.4f}, acc {100 * result.mean_accuracy:.2f}%)")
        for point in result.tar_at_far:
            if point.reliable:
                ax.plot(point.far, point.tar, "o", color=line.get_color())
    ax.set_xscale("log")
    # down to one false accept in the largest negative set (at least to FAR 1e-4), so curves are comparable
    negatives = max(point.negatives for result in results.values() for point in result.tar_at_far)
    ax.set_xlim(min(1e-4, 1 / max(negatives, 1)), 1)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path
