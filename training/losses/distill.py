"""Knowledge-distillation terms: the student's feature against a teacher's embedding of the same face.

L_KD = L_feat + ρ·L_rel, added to the face loss as γ·L_KD on every face, labelled or not.

- Feature term (FitNets' learned regressor, Romero et al., ICLR 2015, with an angular instead of an L2
  distance as in ShrinkTeaNet's angular distillation, Duong et al., 2019): a learned linear map P projects
  the student's feature f (B, D_s) to the teacher's space (B, D_t) and
  L_feat = 1/B Σ_i (1 - cos(P f_i, t_i - m)), with m the mean teacher vector of the training faces.
- Relational term (Relational Knowledge Distillation, Park et al., CVPR 2019; Similarity-Preserving KD,
  Tung & Mori, ICCV 2019): the batch's pairwise cosines S_s = f̂ f̂ᵀ (rows l2-normalised, B x B) should
  follow the teacher's, L_rel = 1/(B(B-1)) Σ_{i≠j} (S_s,ij - (t̂_i·t̂_j - c)/(1 - c))², the mean over the
  off-diagonal pairs. It acts on the student's own feature (no map), i.e. on the geometry the service
  compares.

Why m and c (our choice; the papers' teachers need neither): dlib's descriptors all lie in a narrow cone
(on LFW two random photos score cosine 0.83 ± 0.04, two photos of one person 0.95 in the median), so a raw
target would mostly teach that common direction. The feature term matches the part that tells people
apart (t - m); the relational term maps the teacher's cosines affinely, c = |m|² (the mean cosine of two
random faces) to 0 and 1 to 1, which keeps their order exactly and gives strangers the ~0 cosines that a
CosFace student gives them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class DistillTerms:
    """L_KD and its two parts, scalars."""

    total: Tensor
    feature: Tensor
    relation: Tensor


def feature_term(projected: Tensor, teacher: Tensor) -> Tensor:
    """1/B Σ_i (1 - cos(p_i, t_i)) for (B, D_t) projected student features and (B, D_t) teacher vectors."""
    return (1.0 - F.cosine_similarity(projected, teacher, dim=1)).mean()


def pair_cosines(student: Tensor, teacher: Tensor, offset: float = 0.0) -> tuple[Tensor, Tensor]:
    """The (B, B) pairwise cosines of student (B, D_s) rows and the teacher's (B, D_t) mapped by
    (cos - offset) / (1 - offset), offset < 1: what the relational term compares."""
    s, t = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
    return s @ s.T, (t @ t.T - offset) / (1.0 - offset)


def relation_term(student: Tensor, teacher: Tensor, offset: float = 0.0) -> Tensor:
    """Mean squared difference of the off-diagonal pair_cosines: student (B, D_s), teacher (B, D_t), B >= 2."""
    batch = student.shape[0]
    if batch < 2:
        raise ValueError("the relational term needs at least two faces in the batch")
    student_cos, teacher_cos = pair_cosines(student, teacher, offset)
    diff = student_cos - teacher_cos
    off_diagonal = ~torch.eye(batch, dtype=torch.bool, device=student.device)
    return diff[off_diagonal].pow(2).mean()


class DistillLoss(nn.Module):
    """γ-free L_KD = L_feat + ρ·L_rel with the learned map P: (B, student_dim) -> (B, teacher_dim), no bias.

    teacher_mean: m, the mean unit teacher vector of the training faces (teacher_dim,); zeros leaves the
    targets raw. forward(features (B, student_dim), teacher (B, teacher_dim) unit rows) -> DistillTerms.
    Rows of `teacher` that are all zero (faces without a teacher vector) are left out of both terms.
    """

    teacher_mean: Tensor

    def __init__(self, student_dim: int, teacher_dim: int, relation_weight: float = 1.0,
                 teacher_mean: Tensor | None = None) -> None:
        super().__init__()
        self.projection = nn.Linear(student_dim, teacher_dim, bias=False)
        self.relation_weight = relation_weight
        mean = torch.zeros(teacher_dim) if teacher_mean is None else teacher_mean.detach().float().clone()
        self.register_buffer("teacher_mean", mean)

    def forward(self, features: Tensor, teacher: Tensor) -> DistillTerms:
        keep = teacher.abs().sum(dim=1) > 0
        features, teacher = features[keep].float(), teacher[keep].float()
        zero = features.new_zeros(())
        if len(features) == 0:
            return DistillTerms(zero, zero, zero)
        feature = feature_term(self.projection(features), teacher - self.teacher_mean)
        offset = float(self.teacher_mean @ self.teacher_mean)
        relation = relation_term(features, teacher, offset) if len(features) > 1 and self.relation_weight else zero
        return DistillTerms(feature + self.relation_weight * relation, feature, relation)
