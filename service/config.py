"""Settings for the service and the pipeline, read from FACEVER_* environment variables."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.key_rules import parse_key_list

REPO_ROOT = Path(__file__).resolve().parent.parent

FacePolicy = Literal["largest", "centre", "all"]
IndexKind = Literal["flat", "ivf", "hnsw", "hnsw-pca", "sq8"]


class Settings(BaseSettings):
    """All knobs in one place; every field maps to FACEVER_<FIELD> (upper case)."""

    # hide_input_in_errors: a refused FACEVER_API_KEYS must not be echoed into a log
    model_config = SettingsConfigDict(env_prefix="FACEVER_", env_file=None, extra="ignore", hide_input_in_errors=True)

    # models
    models_dir: Path = REPO_ROOT / "models"
    embedder: str = Field("resnet20q-kd-cosface-rf-iam", description="folder name under models_dir")
    device: Literal["cpu", "cuda"] = "cpu"
    # 1 thread per model run: concurrent requests (and verify's two images) run side by side instead of fighting
    # over the cores. docs/benchmarks.md (service_latency vs service_latency_threads0): alone on 2 quiet cores
    # the runtime default is ~5 ms faster per request; from 4 in flight, or on busy cores, 1 thread wins
    threads: int = Field(1, ge=0, description="ONNX Runtime intra-op threads; 0 = runtime default")

    # image limits
    max_image_bytes: int = Field(10 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(40_000_000, gt=0)
    concurrent_decodes: int = Field(0, ge=0, description="images decoded at once; 0 = the cores this process may use")
    # a body trickled a byte at a time would hold its connection, and what it sent so far, for ever
    body_timeout: float = Field(
        60.0, gt=0, description="seconds a client has to send a request's whole body; slower ones get 408"
    )

    # detection
    # 40 px, the enrolment minimum too: the image pyramid starts at a quarter of the pixels that 20 px needs, so
    # detection is ~1.8x faster, and LFW is unchanged (93.42 % at 40 vs 93.38 % at 20, same thresholds; the
    # model card's README). Lower it to find smaller faces (crowds, CCTV) at that cost.
    min_face_size: int = Field(40, ge=8)
    detector_thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    detector_max_side: int = Field(
        1024, ge=64, description="longer sides are downscaled towards this for detection, by min_face_size/12 at most"
    )
    face_policy: FacePolicy = "largest"

    # gallery storage: SQL is the source of truth, the FAISS index a cache rebuilt from it
    database_url: str = Field(
        "sqlite:///" + str(REPO_ROOT / "data" / "facever.db"),
        description="SQLAlchemy URL; postgresql:// URLs use psycopg 3",
    )
    database_auto_migrate: bool | None = Field(
        None, description="migrate at start; None = only for SQLite (embedded), else refuse if not at head"
    )
    index_kind: IndexKind = Field("flat", description="flat (exact) | ivf | hnsw | hnsw-pca | sq8")
    index_params: dict[str, float] = Field(
        default_factory=dict,
        description='JSON, e.g. {"nlist": 1024, "nprobe": 16} or {"M": 32, "ef_search": 64}',
    )
    index_threads: int = Field(1, ge=0, description="FAISS OpenMP threads; 0 = FAISS default")
    gallery_sync_interval: float = Field(
        0.5, ge=0, description="seconds between change-log polls before a search"
    )

    # the quality gate of every route (enrolment, identify, verify): faces a request may use
    min_enrol_face_size: int = Field(40, ge=8, description="shorter box side, in pixels, of a face any route uses")
    min_enrol_detection_score: float = Field(0.9, ge=0, le=1, description="lowest detection score a route uses")
    store_crops: bool = Field(True, description="keep each enrolled face's aligned crop (JPEG) for re-embedding")

    # auth: X-API-Key with roles admin | client; stored hashed
    auth: bool = Field(True, description="FACEVER_AUTH=off disables API keys (local experiments only)")
    api_keys: str = Field(
        "", repr=False, description="comma-separated role:key pairs registered at start (keys of 16+ characters)"
    )
    metrics_auth: bool = Field(True, description="GET /metrics needs an API key (any role); off for open scrapes")

    @field_validator("api_keys")
    @classmethod
    def _no_weak_keys(cls, value: str) -> str:
        parse_key_list(value)  # refuses example and short keys at start, before anything is served
        return value

    @classmethod
    def load(cls) -> Settings:
        """Settings from the environment; a refused value exits (code 2) with one readable line per problem."""
        try:
            return cls()
        except ValidationError as error:
            problems = "".join(f"\n  FACEVER_{'_'.join(map(str, e['loc'])).upper()}: "
                               f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors())
            print(f"facever: cannot start, settings refused:{problems}", file=sys.stderr)
            raise SystemExit(2) from None

    @property
    def detector_dir(self) -> Path:
        return self.models_dir / "detector"

    @property
    def embedder_dir(self) -> Path:
        return self.models_dir / self.embedder
