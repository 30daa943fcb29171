"""Input listing: sorted order, image suffixes, minimum images per identity, merged sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.data.conftest import BROKEN, IDENTITIES, PER_IDENTITY
from training.data.sources import list_inputs, source_prefixes


def test_lists_images_in_sorted_order(source_dir: Path) -> None:
    inputs = list_inputs([source_dir])
    assert inputs.identities == [*IDENTITIES, BROKEN]
    names = [item.name for item in inputs.items]
    assert names == sorted(names) and len(names) == len(IDENTITIES) * PER_IDENTITY + 2  # notes.txt is skipped
    assert inputs.fingerprint() == list_inputs([source_dir]).fingerprint()


def test_min_images_per_identity_drops_small_identities(source_dir: Path) -> None:
    assert list_inputs([source_dir], min_images_per_identity=2).identities == list(IDENTITIES)


def test_merged_sources_get_distinct_prefixes(source_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "cacd" / "faces"
    (other / "Jane_Doe").mkdir(parents=True)
    (other / "Jane_Doe" / "1.jpg").write_bytes(b"")
    assert source_prefixes([other]) == [""]
    prefix = source_prefixes([source_dir, other])
    assert prefix == [f"{source_dir.parent.name}/faces", "cacd/faces"]
    inputs = list_inputs([source_dir, other])
    assert inputs.identities[-1] == "cacd/faces/Jane_Doe" and inputs.items[-1].name == "cacd/faces/Jane_Doe/1.jpg"
    assert inputs.items[-1].label == len(inputs.identities) - 1
    with pytest.raises(ValueError, match="twice"):
        source_prefixes([other, other])
