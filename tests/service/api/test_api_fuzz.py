"""Schemathesis against the service's own OpenAPI document over real HTTP, auth on, every check and phase
(stateful included): a short deterministic run of benchmarks/api_fuzz.py's passes, which must find nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.api_fuzz import PASSES, fuzz, pass_files
from service.config import Settings


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_check_failure(service_settings: Settings, tmp_path: Path) -> None:
    results = fuzz(service_settings.models_dir, service_settings.embedder, tmp_path, photo_count=6, max_examples=25)
    assert [result.name for result in results] == [fuzz_pass.name for fuzz_pass in PASSES]
    for result in results:
        output = pass_files(tmp_path, result.name)[1].read_text(errors="replace")
        # every phase that can run here ran (the document has no examples of its own)
        assert result.phases == {"examples": "skip", "coverage": "success", "fuzzing": "success",
                                 "stateful": "success"}, output[-6000:]
        assert (result.failures, result.errors, result.server_errors, result.exit_code) == (0, 0, 0, 0), output[-6000:]
        assert result.cases > 100 and result.requests >= result.cases, result
