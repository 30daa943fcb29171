"""Sep statistics (RF Eq. 6) against RF Table 1's 'Random' row and a dense computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.sep import sep_statistics


def test_random_512d_centres_match_rf_table_1():
    """10,575 random 512-D centres (CASIA-WebFace's class count): mean(Sep) ≈ 0.16992 (RF Table 1)."""
    weight = np.random.default_rng(0).standard_normal((10_575, 512), dtype=np.float32)
    stats = sep_statistics(weight)
    assert stats.mean == pytest.approx(0.16992, abs=0.004)
    assert 0 < stats.std < 0.05


def test_equals_the_dense_definition_whatever_the_chunk():
    weight = torch.randn(300, 16, generator=torch.Generator().manual_seed(1))
    unit = weight / weight.norm(dim=1, keepdim=True)
    sep = (unit @ unit.T - 3 * torch.eye(300)).max(dim=1).values
    for chunk_size in (64, 4096):
        stats = sep_statistics(weight, chunk_size=chunk_size)
        assert stats.mean == pytest.approx(sep.mean().item(), abs=1e-6)
        assert stats.std == pytest.approx(sep.std(correction=0).item(), abs=1e-6)
