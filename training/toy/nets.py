"""The two small CNNs of the toy experiments: IAM Table 1's MNIST network and a LeNet-5 with a 2-D feature."""

from __future__ import annotations

from torch import Tensor, nn


def _conv(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class IamCNN(nn.Module):
    """IAM Table 1: [conv3x3 ×2, max-pool 3x3] with 32, 64, 128 channels, then FC to the feature.

    Table 1 omits padding, strides, activations and the FC: we use 'same' convs (padding 1), BN + ReLU
    after each conv (BN lets a few epochs converge; ReLU, not LeNet++'s PReLU, because PReLU's backward
    cost 1.5x the step time on our CPU), max-pool 3x3 stride 2 padding 1 (28 → 14 → 7 → 4), one linear 2048 → D.
    `width` scales every channel count (1.0 = Table 1); < 1 only to fit a CPU budget, and the report says so.
    """

    def __init__(self, feature_dim: int = 3, width: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for c in (round(32 * width), round(64 * width), round(128 * width)):
            layers += [*_conv(c_in, c, 3), *_conv(c, c, 3), nn.MaxPool2d(3, stride=2, padding=1)]
            c_in = c
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Linear(c_in * 4 * 4, feature_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.body(x))


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max-pool: conv5x5 6 (padding 2) → pool → conv5x5 16 → pool →
    FC 120 → FC 84 → FC D; the last layer has no activation, so the 2-D feature can take any sign."""

    def __init__(self, feature_dim: int = 2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, feature_dim),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
