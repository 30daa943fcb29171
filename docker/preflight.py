"""Refuse to start the API when the configured models are missing, with a message that says how to fix it.

Run by docker/entrypoint.sh before `facever serve`: without it a missing embedder surfaces as a traceback
from the server's start-up, which is hard to read in `docker compose logs`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from service.config import Settings


def missing_files(settings: Settings) -> list[Path]:
    """The model files the pipeline loads at start that do not exist."""
    needed = [settings.detector_dir / f"{net}.onnx" for net in ("pnet", "rnet", "onet")]
    needed += [settings.embedder_dir / "model.onnx", settings.embedder_dir / "model.json"]
    return [path for path in needed if not path.is_file()]


def main() -> int:
    settings = Settings.load()  # exits 2 on refused settings, e.g. an example API key
    missing = missing_files(settings)
    if not missing:
        return 0
    listed = "\n".join(f"  {path}" for path in missing)
    print(
        f"facever: cannot start, model files missing:\n{listed}\n"
        f"FACEVER_MODELS_DIR={settings.models_dir} FACEVER_EMBEDDER={settings.embedder}.\n"
        "Bake the embedder into the image (put models/<embedder>/ in the build context before `docker build`; "
        "the default one ships in the repository), or mount a models folder read-only "
        "(-v /path/to/models:/app/models:ro), or choose an installed embedder with FACEVER_EMBEDDER.",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
