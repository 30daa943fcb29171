"""ResNet20: output shapes, parameter count by formula, seeded determinism."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from training.nets import STAGE_UNITS, ResNet20, build_embedder, stage_channels


def expected_params(batch_norm: bool, channels: tuple[int, ...]) -> int:
    """Count from the architecture: 3x3 convs, each with PReLU (one slope per channel) and either a
    bias or BN (scale + shift); FC1 maps the last stage's Cx7x6 map to 512 with a bias."""
    total, c_in = 0, 3
    per_channel = 1 + (2 if batch_norm else 1)  # PReLU slope + (BN gamma, beta | conv bias)
    for c, units in zip(channels, STAGE_UNITS, strict=True):
        total += 9 * c_in * c + per_channel * c  # stride-2 stage conv
        total += units * 2 * (9 * c * c + per_channel * c)  # residual units: two convs each
        c_in = c
    return total + (c_in * 7 * 6) * 512 + 512


def test_paper_width_is_the_sphereface_net() -> None:
    assert stage_channels(1.0) == (64, 128, 256, 512)
    assert expected_params(True, stage_channels(1.0)) == 22_675_328  # 22.68 M, as the docs quote
    assert stage_channels(0.25) == (16, 32, 64, 128)


@pytest.mark.parametrize(("batch_norm", "width"), [(True, 1.0), (False, 1.0), (True, 0.25)])
def test_shapes_and_parameter_count(batch_norm: bool, width: float) -> None:
    net = build_embedder(0, batch_norm=batch_norm, width=width).eval()
    x = torch.randn(2, 3, 112, 96)
    with torch.no_grad():
        assert net.features(x).shape == (2, stage_channels(width)[-1], 7, 6)
        assert net(x).shape == (2, ResNet20.feature_dim) == (2, 512)
    assert sum(p.numel() for p in net.parameters()) == expected_params(batch_norm, stage_channels(width))
    assert sum(isinstance(m, torch.nn.Conv2d) for m in net.modules()) == 20
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == batch_norm


def test_seed_is_deterministic_and_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b, c = build_embedder(0), build_embedder(0), build_embedder(1)
    assert torch.rand(1) == before  # building with a seed did not consume the global stream
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


def test_trains_one_step() -> None:
    net = build_embedder(0)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss = net(torch.randn(4, 3, 112, 96)).pow(2).mean()
    loss.backward()
    opt.step()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
