"""Feature scatter plots of the toy runs: 3-D unit-sphere panels (IAM Fig. 2) and 2-D panels (RegularFace Fig. 4)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display on these machines
import matplotlib.pyplot as plt
import torch.nn.functional as F
from torch import Tensor

MAX_POINTS = 3000  # per panel: enough to see the clusters, small enough for a light PNG


@dataclass(frozen=True)
class Panel:
    title: str
    features: Tensor  # (N, D) test features
    labels: Tensor
    centres: Tensor | None = None  # (C, D) class centre directions to draw (2-D panels)


def _thin(panel: Panel) -> tuple[Tensor, Tensor]:
    step = max(1, len(panel.labels) // MAX_POINTS)
    return panel.features[::step], panel.labels[::step]


def sphere_panels(panels: list[Panel], path: Path) -> None:
    """One 3-D scatter per panel of the l2-normalised features, coloured by class."""
    fig = plt.figure(figsize=(4.2 * len(panels), 4.4))
    for k, panel in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), k, projection="3d")
        x, y = _thin(panel)
        u = F.normalize(x, dim=1).numpy()
        ax.scatter(u[:, 0], u[:, 1], u[:, 2], c=y.numpy(), cmap="tab10", s=2, vmin=0, vmax=9)
        ax.set_title(panel.title, fontsize=9)
        ax.set_box_aspect((1, 1, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plane_panels(panels: list[Panel], path: Path, digits: tuple[int, ...]) -> None:
    """One 2-D scatter per panel of the raw features, with each class centre's direction as a ray."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4))
    for ax, panel in zip(axes, panels, strict=True):
        x, y = _thin(panel)
        for c, digit in enumerate(digits):
            pts = x[y == c].numpy()
            ax.scatter(pts[:, 0], pts[:, 1], s=2, color=f"C{c}", label=str(digit))
        if panel.centres is not None:
            reach = float(x.norm(dim=1).max())  # rays as long as the farthest point
            for c, w in enumerate(F.normalize(panel.centres, dim=1).numpy()):
                ax.plot([0, reach * w[0]], [0, reach * w[1]], color=f"C{c}", lw=1.5, ls="--")
        ax.set_title(panel.title, fontsize=9)
        ax.set_aspect("equal", "datalim")
        ax.legend(markerscale=4, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
