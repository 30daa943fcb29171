"""Hostile uploads against the real `facever serve` (the long run is benchmarks/hostile_uploads.py): maximum-size
uploads at once and bodies trickled a byte at a time keep the service's peak memory under the bound its limits
give, slow bodies are cut off with 408 body_timeout, and another client is served throughout."""

from __future__ import annotations

from pathlib import Path

from benchmarks.hostile_uploads import HostileRun, run
from service.config import Settings

CLIENTS = 16
MAX_IMAGE_BYTES = 2 * 1024 * 1024
BODY_TIMEOUT_S = 3.0


def test_hostile_uploads_stay_bounded(service_settings: Settings, tmp_path: Path) -> None:
    result: HostileRun = run(tmp_path, service_settings, clients=CLIENTS, rounds=1, max_image_bytes=MAX_IMAGE_BYTES,
                             body_timeout_s=BODY_TIMEOUT_S)
    assert result.problems() == []  # peak under the bound, no 5xx, slow bodies 408, the bystander always served
    uploads, slow = result.attacks
    assert sum(uploads.answers.values()) == CLIENTS and set(slow.answers) == {"408 body_timeout"}
    assert slow.answers["408 body_timeout"] == CLIENTS
    for attack in result.attacks:
        assert 0 < attack.peak_rss <= attack.bound
        answers = attack.bystander["answers"]
        assert answers.get("health 200", 0) >= 1 and answers.get("verify 200", 0) >= 1
