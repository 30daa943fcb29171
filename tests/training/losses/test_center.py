"""Center loss: RF Eq. 1's value, gradient only to the features, and Wen et al.'s centre update."""

from __future__ import annotations

import torch

from training.losses.center import CenterLoss


def test_value_gradient_and_update():
    loss = CenterLoss(feature_dim=3, num_classes=4, alpha=0.5)
    loss.centers.copy_(torch.arange(12.0).view(4, 3))
    x = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [0.0, 0.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 2])
    value = loss(x, y)
    expected = 0.5 * ((x - loss.centers[y]) ** 2).sum(1).mean()
    torch.testing.assert_close(value, expected)
    value.backward()
    torch.testing.assert_close(x.grad, (x - loss.centers[y]).detach() / 3)
    before = loss.centers.clone()
    loss.update_centers()
    # class 0: Δ = ((c0 - x0) + (c0 - x1)) / (1 + 2); class 2: Δ = (c2 - x2) / 2; others unchanged
    torch.testing.assert_close(loss.centers[0], before[0] - 0.5 * (2 * before[0] - x[0] - x[1]).detach() / 3)
    torch.testing.assert_close(loss.centers[2], before[2] - 0.5 * (before[2] - x[2]).detach() / 2)
    torch.testing.assert_close(loss.centers[[1, 3]], before[[1, 3]])
    after = loss.centers.clone()
    loss.update_centers()  # the batch is consumed: a second call does nothing
    torch.testing.assert_close(loss.centers, after)


def test_evaluation_does_not_move_centres():
    loss = CenterLoss(2, 3).eval()
    loss(torch.ones(2, 2), torch.tensor([0, 1]))
    loss.update_centers()
    assert torch.count_nonzero(loss.centers) == 0
