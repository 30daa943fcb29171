"""ResNet20 (SphereFace-20) embedder: a 3x112x96 aligned face -> a 512-D feature (RegularFace Fig. 2)."""

from __future__ import annotations

import torch
from torch import nn

STAGE_CHANNELS: tuple[int, ...] = (64, 128, 256, 512)
STAGE_UNITS: tuple[int, ...] = (1, 2, 4, 1)
INPUT_HW: tuple[int, int] = (112, 96)
FEATURE_HW: tuple[int, int] = (7, 6)  # 112x96 halved four times (ceil): 56x48, 28x24, 14x12, 7x6


def _conv(c_in: int, c_out: int, stride: int, batch_norm: bool) -> nn.Sequential:
    """3x3 conv (+BN) + channel-wise PReLU; the conv bias is redundant when BN follows it."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.PReLU(c_out))
    return nn.Sequential(*layers)


class ResidualUnit(nn.Module):
    """Two 3x3 conv+PReLU layers added to an identity shortcut (SphereFace places the sum after PReLU)."""

    def __init__(self, channels: int, batch_norm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv(channels, channels, 1, batch_norm), _conv(channels, channels, 1, batch_norm)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet20(nn.Module):
    """SphereFace-20 as in RegularFace Fig. 2: 4 stages (stride-2 conv, then 1/2/4/1 residual units), FC1.

    20 layers with weights: 4 stage convs + 2 x (1+2+4+1) unit convs = 20 convolutions, then FC1
    (512x7x6 -> 512). The network ends at FC1; the classifier (FC2) belongs to the loss head.

    BatchNorm: SphereFace's original has conv biases and no normalisation, and trains only with its
    careful initialisation and a long softmax warm-up. ``batch_norm=True`` (the default) puts a
    BatchNorm2d between each conv and its PReLU, as modern re-implementations do, because it trains
    reliably with every margin loss and short schedules. In eval mode the ONNX exporter folds BN into
    the conv, so the served graph, file size and speed are the same either way. ``batch_norm=False``
    gives the paper's network (conv biases, SphereFace's initialisation) for faithful reproductions.

    ``width`` scales every stage's channels (1.0 = the paper's 64/128/256/512). Conv cost falls with
    its square, so width 0.25 trains about 16x faster: the size a 2-core CPU can train in an hour.
    The 512-D feature, and so the embedding contract, is the same at every width.
    """

    feature_dim: int = 512

    def __init__(self, batch_norm: bool = True, width: float = 1.0) -> None:
        super().__init__()
        self.batch_norm = batch_norm
        self.width = width
        stages: list[nn.Module] = []
        c_in = 3
        for c_out, units in zip(stage_channels(width), STAGE_UNITS, strict=True):
            stages.append(_conv(c_in, c_out, 2, batch_norm))
            stages.extend(ResidualUnit(c_out, batch_norm) for _ in range(units))
            c_in = c_out
        self.features = nn.Sequential(*stages)
        self.fc1 = nn.Linear(c_in * FEATURE_HW[0] * FEATURE_HW[1], self.feature_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier for stage convs and FC1 (SphereFace); residual-unit convs start small without BN so
        each unit begins close to the identity, and use He init with BN, which rescales them anyway."""
        for block in self.features:
            for conv in (m for m in block.modules() if isinstance(m, nn.Conv2d)):
                if not isinstance(block, ResidualUnit):
                    nn.init.xavier_uniform_(conv.weight)
                elif self.batch_norm:
                    nn.init.kaiming_normal_(conv.weight, a=0.25, nonlinearity="leaky_relu")
                else:
                    nn.init.normal_(conv.weight, std=0.01)
                if conv.bias is not None:
                    nn.init.zeros_(conv.bias)
        nn.init.xavier_uniform_(self.fc1.weight)
        nn.init.zeros_(self.fc1.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, 112, 96) normalised images -> (N, 512) features (not L2-normalised)."""
        return self.fc1(torch.flatten(self.features(x), 1))


def stage_channels(width: float = 1.0) -> tuple[int, ...]:
    """Channels of the four stages at a width multiplier (at least 8 each)."""
    return tuple(max(8, round(c * width)) for c in STAGE_CHANNELS)


def build_embedder(seed: int | None = None, *, batch_norm: bool = True, width: float = 1.0) -> ResNet20:
    """A fresh ResNet20; with a seed its weights are identical on every call, global RNG untouched."""
    if seed is None:
        return ResNet20(batch_norm, width)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ResNet20(batch_norm, width)
