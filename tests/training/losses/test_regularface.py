"""RegularFace: Eq. 9 value (tiled = dense = pml), the Eq. 14 gradient, the Eq. 13 projection, the Eq. 15 warm-up.

pytorch-metric-learning's RegularFaceRegularizer is the test-only oracle for the value and gradient; we keep
our own because it builds the full C×C cosine matrix (and its autograd graph), which does not fit at 100k
classes, while ours searches neighbours in bounded tiles and differentiates only the gathered pairs.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning.regularizers import RegularFaceRegularizer

from training.losses.regularface import annealed_lambda, exclusive_regularization, nearest_neighbours, project_rows_

C, D = 50, 16


@pytest.fixture
def weight() -> torch.Tensor:
    return torch.randn(C, D, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def dense_neighbours(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    unit = F.normalize(weight, dim=1)
    return (unit @ unit.T - 3.0 * torch.eye(len(weight), dtype=weight.dtype)).max(dim=1)


@pytest.mark.parametrize("chunk_size", [1, 7, 50, 4096])
def test_tiled_search_and_value_equal_the_dense_computation(weight, chunk_size):
    values, index = nearest_neighbours(F.normalize(weight, dim=1), chunk_size)
    dense_values, dense_index = dense_neighbours(weight)
    torch.testing.assert_close(values, dense_values)
    assert torch.equal(index, dense_index)
    torch.testing.assert_close(exclusive_regularization(weight, chunk_size), dense_values.float().mean())


def test_scale_invariant_and_computed_in_float32(weight):
    scaled = weight * torch.rand(C, 1, dtype=torch.float64) * 10
    torch.testing.assert_close(exclusive_regularization(scaled), exclusive_regularization(weight))
    assert exclusive_regularization(weight.half()).dtype == torch.float32


def test_autograd_gradient_is_the_papers_eq_14(weight):
    """RF Eq. 14: ∂L_r/∂W_j = W_j' + Σ_{i: nn(i)=j} W_i for unit W_j (the paper drops the 1/C factor).

    Autograd differentiates the cosine, so it also carries the derivative of the normalisation: it is
    1/C times Eq. 14 with the component along W_j removed (Eq. 14's radial part is what the projection
    step of Eq. 13 undoes anyway). Same direction on the sphere, so the projected step is the same.
    """
    unit = F.normalize(weight, dim=1).requires_grad_()
    exclusive_regularization(unit, chunk_size=7).backward()
    _, nn = dense_neighbours(unit.detach())
    eq14 = unit.detach()[nn] + torch.zeros_like(unit).index_add_(0, nn, unit.detach())
    tangential = eq14 - (eq14 * unit.detach()).sum(dim=1, keepdim=True) * unit.detach()
    torch.testing.assert_close(C * unit.grad, tangential.float().double(), rtol=1e-5, atol=1e-6)


def test_equals_pytorch_metric_learning_value_and_gradient(weight):
    ours_w = weight.float().requires_grad_()
    theirs_w = weight.float().requires_grad_()
    ours, theirs = exclusive_regularization(ours_w, chunk_size=16), RegularFaceRegularizer()(theirs_w)
    torch.testing.assert_close(ours, theirs)
    ours.backward(), theirs.backward()
    torch.testing.assert_close(ours_w.grad, theirs_w.grad)


def test_projection_puts_rows_on_the_unit_sphere_in_place(weight):
    param = torch.nn.Parameter(weight.clone())
    project_rows_(param)
    torch.testing.assert_close(param.norm(dim=1), torch.ones(C, dtype=torch.float64))
    torch.testing.assert_close(param.data, F.normalize(weight, dim=1))


def test_needs_two_classes():
    with pytest.raises(ValueError):
        exclusive_regularization(torch.randn(1, D))


@pytest.mark.parametrize(
    ("epoch", "warmup", "expected"),
    [(0.0, 3.0, 0.0), (1.5, 3.0, 3.0), (3.0, 3.0, 6.0), (7.0, 3.0, 6.0), (0.0, 0.0, 6.0)],
)
def test_lambda_warm_up_is_linear_then_constant(epoch, warmup, expected):
    assert annealed_lambda(6.0, epoch, warmup) == pytest.approx(expected)  # RF Eq. 15
