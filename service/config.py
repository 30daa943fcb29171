"""Settings for the service and the pipeline, read from FACEVER_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

FacePolicy = Literal["largest", "centre", "all"]


class Settings(BaseSettings):
    """All knobs in one place; every field maps to FACEVER_<FIELD> (upper case)."""

    model_config = SettingsConfigDict(env_prefix="FACEVER_", env_file=None, extra="ignore")

    # models
    models_dir: Path = REPO_ROOT / "models"
    embedder: str = Field("resnet20-random", description="folder name under models_dir")
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int = Field(0, ge=0, description="ONNX Runtime intra-op threads; 0 = runtime default")

    # image limits
    max_image_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(40_000_000, gt=0)

    # detection
    min_face_size: int = Field(20, ge=8)
    detector_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    detector_max_side: int = Field(1024, ge=64, description="longer sides are downscaled for detection")
    face_policy: FacePolicy = "largest"

    @property
    def detector_dir(self) -> Path:
        return self.models_dir / "detector"

    @property
    def embedder_dir(self) -> Path:
        return self.models_dir / self.embedder
