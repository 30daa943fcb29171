"""How closely a distilled student follows its teacher, on faces it trained on and on faces it never saw.

A student that follows the teacher on its training faces but not on unseen ones is short of data; one that
misses on both is short of capacity or training steps. Both measures are the loss terms' own
(training.losses.distill), computed on the student's unflipped crop in eval mode:

- feature cosine: the mean of cos(P f_i, t_i - m) over the faces, i.e. 1 - L_feat;
- relational fit: over every pair of the faces, the RMSE (= sqrt L_rel) and Pearson's r between the student's
  cosines f̂_i·f̂_j and the teacher's mapped ones (t̂_i·t̂_j - c) / (1 - c), c = |m|².
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from service.vision.embedder import preprocess
from training.data.dataset import PackedFaces
from training.distill.cache import load_teacher_vectors
from training.distill.dataset import overlap_excluded
from training.losses.distill import feature_term, pair_cosines

BATCH = 256


@dataclass(frozen=True)
class Fit:
    """The student's fit to the teacher on one set of faces."""

    faces: str  # what the set is, e.g. a packed folder or "LFW"
    seen: bool  # whether the student trained on these faces
    count: int
    feature_cosine: float
    relation_rmse: float
    relation_r: float


def student_features(net: nn.Module, crops: np.ndarray) -> np.ndarray:
    """The network's raw features (N, D_s) of (N, 112, 96, 3) uint8 crops, unflipped, in eval mode."""
    net.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(crops), BATCH):
            out.append(net(torch.from_numpy(preprocess(crops[start:start + BATCH]))).float().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def measure_fit(features: np.ndarray, teacher: np.ndarray, projection: np.ndarray, mean: np.ndarray,
                faces: str, seen: bool) -> Fit:
    """Fit of student features (N, D_s) to unit teacher vectors (N, D_t), N >= 2, through the learned map
    `projection` (D_t, D_s) and the training faces' mean teacher vector `mean` (D_t,)."""
    if len(features) < 2:
        raise ValueError(f"{faces}: the relational fit needs at least two faces, got {len(features)}")
    f, t, m = (torch.from_numpy(np.asarray(a, np.float32)) for a in (features, teacher, mean))
    feature = feature_term(f @ torch.from_numpy(np.asarray(projection, np.float32)).T, t - m)
    student_cos, teacher_cos = pair_cosines(f, t, float(m @ m))
    upper = torch.triu_indices(len(f), len(f), offset=1)
    student_cos, teacher_cos = student_cos[upper[0], upper[1]], teacher_cos[upper[0], upper[1]]
    rmse = float((student_cos - teacher_cos).pow(2).mean().sqrt())
    r = float(torch.corrcoef(torch.stack([student_cos, teacher_cos]))[0, 1])
    return Fit(faces, seen, len(features), 1.0 - float(feature), rmse, r)


def sample(count: int, size: int, seed: int = 0) -> np.ndarray:
    """`size` sorted distinct indices of range(count) (all of them when there are fewer), seeded."""
    if count <= size:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size, replace=False))


@dataclass(frozen=True)
class FaceSample:
    """Sampled faces of one set: crops (n, 112, 96, 3) uint8 and their unit teacher vectors (n, 128)."""

    name: str
    folder: Path | None  # the packed folder, or None for an evaluation set (never trained on)
    crops: np.ndarray
    teacher: np.ndarray


def packed_sample(data_dir: Path, size: int, seed: int = 0) -> FaceSample:
    """`size` random faces of a packed folder with a teacher cache, its LFW near-duplicates left out (as in
    training)."""
    faces = PackedFaces(data_dir, train=False, exclude=overlap_excluded(data_dir))
    chosen = sample(len(faces), size, seed)
    crops = np.stack([faces.crop(int(i)) for i in chosen])
    return FaceSample(data_dir.name, data_dir, crops, load_teacher_vectors(data_dir)[faces.source_index[chosen]])


def checkpoint_fit(checkpoint: Path, samples: list[FaceSample]) -> list[Fit] | None:
    """Fits of a distillation checkpoint on each sample (seen: its folder is one the run's recipe trained on);
    None when the run had no teacher (distill.weight 0 leaves the map P untrained)."""
    from training.release import load_backbone  # torch model code: imported when a checkpoint is measured

    net, ckpt = load_backbone(checkpoint)
    cfg = ckpt["config"]
    if not (cfg.get("distill") or {}).get("weight"):
        return None
    projection = ckpt["distill"]["projection.weight"].numpy()
    mean = ckpt["distill"]["teacher_mean"].numpy()
    trained_on = {Path(cfg["data"]["dir"]).resolve(), *(Path(p).resolve() for p in cfg["distill"]["unlabelled"])}
    return [measure_fit(student_features(net, s.crops), s.teacher, projection, mean, s.name,
                        s.folder is not None and s.folder.resolve() in trained_on) for s in samples]
