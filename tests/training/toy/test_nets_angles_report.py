"""Toy nets' output shapes, the centre-angle helper on known vectors, and the mean ± std formatter."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from training.toy.angles import centre_angles
from training.toy.nets import IamCNN, LeNet
from training.toy.report import mean_std


@pytest.mark.parametrize("width", [1.0, 0.5])
def test_iam_cnn_shape(width: float) -> None:
    net = IamCNN(3, width).eval()
    with torch.no_grad():
        assert net(torch.randn(2, 1, 28, 28)).shape == (2, 3)
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 6  # IAM Table 1: 3 × 2 convs
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net.modules()) == 3


def test_lenet_shape() -> None:
    with torch.no_grad():
        assert LeNet(2).eval()(torch.randn(5, 1, 28, 28)).shape == (5, 2)


def test_angles_on_known_vectors() -> None:
    stats = centre_angles(torch.tensor([[1.0, 0.0], [0.0, 3.0], [-2.0, 0.0]]))  # 90°, 180°, 90°
    assert stats.min_deg == pytest.approx(90.0)
    assert stats.mean_deg == pytest.approx(120.0)
    tetra = torch.tensor([[1.0, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])  # regular tetrahedron
    assert centre_angles(tetra).min_deg == pytest.approx(math.degrees(math.acos(-1 / 3)))
    with pytest.raises(ValueError):
        centre_angles(torch.ones(1, 2))


def test_mean_std() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == "2.00 ± 1.00"
    assert mean_std([5.0], 1) == "5.0 ± 0.0"
