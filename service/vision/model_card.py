"""The embedder model card contract: models/<name>/model.json, validated with pydantic."""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.errors import ErrorCode, FaceverError

CARD_FILE = "model.json"
ONNX_FILE = "model.onnx"


class _Part(BaseModel):
    # unknown keys are typos, not extensions: fail loudly; aliases let JSON keys like "far_1e-3" exist
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class InputSpec(_Part):
    """What the ONNX input expects; the defaults ARE the input-normalisation contract (DESIGN.md)."""

    height: Literal[112] = 112
    width: Literal[96] = 96
    channels: Literal[3] = 3
    layout: Literal["NCHW"] = "NCHW"
    colour: Literal["RGB"] = "RGB"
    mean: float = 127.5
    scale: float = 1 / 128


class EmbeddingSpec(_Part):
    """The served embedding: ``dim`` is the final vector length (1024 = 2 x 512 for concat_flip)."""

    dim: int = Field(1024, gt=0)
    fusion: Literal["concat_flip", "none"] = "concat_flip"
    normalised: bool = True

    @property
    def feature_dim(self) -> int:
        """Length of one network output, i.e. per image before fusion."""
        return self.dim // 2 if self.fusion == "concat_flip" else self.dim

    @model_validator(mode="after")
    def _even_for_flip(self) -> EmbeddingSpec:
        if self.fusion == "concat_flip" and self.dim % 2:
            raise ValueError("concat_flip needs an even dim (two equal halves)")
        return self


class Distillation(_Part):
    """The teacher a model learnt from (γ·L_KD on every face, L_KD = L_feat + ρ·L_rel; training.losses.distill)."""

    teacher: str = Field(min_length=1, description="the teacher network, e.g. dlib_face_recognition_resnet_model_v1")
    teacher_sha256: dict[str, str] = Field(description="sha256 of each teacher file, by file name")
    weight: float = Field(ge=0, description="γ")
    relation_weight: float = Field(ge=0, description="ρ")
    unlabelled_data: list[str] = Field(default_factory=list, description="folders used for distillation only")


class TrainingRecipe(_Part):
    """How the weights were obtained; all optional so a placeholder can say "nothing" honestly."""

    data: str | None = None
    base_loss: str | None = None
    lambda_: float | None = Field(None, alias="lambda")
    beta: float | None = None
    epochs: float | None = None
    seed: int | None = None
    distillation: Distillation | None = None
    notes: str = ""


class Metrics(_Part):
    """Evaluation results; accuracies and rates are fractions in [0, 1]."""

    lfw_mean: float | None = None
    lfw_std: float | None = None
    tar_at_far: dict[str, float] = Field(default_factory=dict, description='e.g. {"1e-3": 0.95}')
    sep_mean: float | None = None
    sep_std: float | None = None


class Thresholds(_Part):
    """Decision thresholds on the model's score (service.vision.cohort.Scoring) and the data they were calibrated on."""

    best_accuracy: float | None = None
    far_1e_3: float | None = Field(None, alias="far_1e-3")
    far_1e_4: float | None = Field(None, alias="far_1e-4")
    calibrated_on: str | None = None

    @property
    def identify(self) -> float | None:
        """The open-set identification default: the FAR 1e-3 threshold, else the best-accuracy one."""
        return self.far_1e_3 if self.far_1e_3 is not None else self.best_accuracy


class FarCurve(_Part):
    """Decision thresholds for probes against identities of `faces` enrolled faces, by false-accept rate.

    ``threshold[i]`` is the smallest score at which at most a fraction ``far[i]`` of the calibration impostor
    comparisons (a probe photo against the mean template of another person's `faces` photos) were accepted.
    ``far`` falls strictly; ``faces`` = 1 is also photo against photo."""

    faces: int = Field(ge=1)
    far: list[float] = Field(min_length=2)
    threshold: list[float] = Field(min_length=2)
    impostor_scores: int = Field(ge=1, description="impostor comparisons the curve was measured on")

    @model_validator(mode="after")
    def _monotone(self) -> FarCurve:
        if len(self.far) != len(self.threshold):
            raise ValueError("far and threshold need the same length")
        if any(b >= a for a, b in pairwise(self.far)) or not 0 < self.far[-1] <= self.far[0] < 1:
            raise ValueError("far must fall strictly, within (0, 1)")
        if any(b < a for a, b in pairwise(self.threshold)):
            raise ValueError("threshold must not fall as far falls")
        return self


class OpenSetCurve(_Part):
    """Open-set identification over galleries of `identities` identities: the per-comparison FAR at which a
    candidate is tested so that at most a fraction ``fpir[i]`` of never-enrolled probes matched anyone.

    The union bound would test each candidate at FPIR / N; real galleries hold identities that attract more
    impostors than average, so the calibrated FAR is usually smaller."""

    identities: int = Field(ge=2)
    fpir: list[float] = Field(min_length=1)
    comparison_far: list[float] = Field(min_length=1)
    probes: int = Field(ge=1, description="never-enrolled probes the curve was measured on")

    @model_validator(mode="after")
    def _monotone(self) -> OpenSetCurve:
        if len(self.fpir) != len(self.comparison_far):
            raise ValueError("fpir and comparison_far need the same length")
        if any(b >= a for a, b in pairwise(self.fpir)) or any(b > a for a, b in pairwise(self.comparison_far)):
            raise ValueError("fpir must fall strictly and comparison_far must not rise")
        return self


Scoring = Literal["mean_template", "mean_template_cohort"]


def scoring_of(with_cohort: bool) -> Scoring:
    """The calibration's `scoring` for a model with or without a cohort: thresholds hold only on those scores."""
    return "mean_template_cohort" if with_cohort else "mean_template"


class Calibration(_Part):
    """FAR-named thresholds for every decision the service makes (service.decisions applies them).

    Identities are scored by the normalised mean of their enrolled embeddings (``scoring``), the cosine corrected
    by the model's cohort when it ships one (``mean_template_cohort``, service.vision.cohort); impostor scores
    against such a template rise with the number of faces in it, hence one curve per template size."""

    scoring: Scoring = "mean_template"
    curves: list[FarCurve] = Field(min_length=1, description="by enrolled faces, increasing; the first has 1")
    open_set: list[OpenSetCurve] = Field(default_factory=list, description="by gallery size, increasing; none: the "
                                                                         "union bound FPIR / N")
    default_far: float = Field(1e-2, gt=0, lt=1, description="the FAR of a request that names no threshold")
    calibrated_on: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sizes(self) -> Calibration:
        sizes = [curve.faces for curve in self.curves]
        if sizes[0] != 1 or any(b <= a for a, b in pairwise(sizes)):
            raise ValueError("curves need template sizes 1, then strictly increasing")
        return self


Weights = Literal["fp32", "fp16", "int8"]


class Compaction(_Part):
    """How a compact model (fp16 or int8 weights) was derived from its fp32 export, and how far it is from it.

    The cosines compare the fp32 and the compact network's outputs (one per crop and one per mirrored
    crop, as the service runs them) on the crops named in ``checked_on``; int8 activation ranges were
    calibrated on those same crops."""

    source_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the fp32 model.onnx")
    checked_on: str = Field(min_length=1)
    min_cosine: float = Field(ge=-1, le=1)
    mean_cosine: float = Field(ge=-1, le=1)


class CohortSpec(_Part):
    """The score-normalisation cohort shipped beside the model as cohort.npy (service.vision.cohort): `faces`
    unit embeddings (float16) of training faces, one per person, none of them an evaluation face."""

    faces: int = Field(ge=1)
    top_k: int = Field(ge=1, description="cohort cosines averaged per vector (K)")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of cohort.npy")
    source: str = Field(min_length=1, description="the folders the faces were drawn from, and how")

    @model_validator(mode="after")
    def _k_within(self) -> CohortSpec:
        if self.top_k > self.faces:
            raise ValueError(f"top_k {self.top_k} exceeds the cohort's {self.faces} faces")
        return self


class ModelCard(_Part):
    """Everything the service needs to trust and use an embedder, plus how it was made."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    input: InputSpec = Field(default_factory=InputSpec)
    embedding: EmbeddingSpec = Field(default_factory=EmbeddingSpec)
    training: TrainingRecipe = Field(default_factory=TrainingRecipe)
    metrics: Metrics = Field(default_factory=Metrics)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    calibration: Calibration | None = None  # cards written before FAR curves existed have none
    # how the weights are stored; cards written before this field existed are fp32 exports
    weights: Weights = "fp32"
    compaction: Compaction | None = None
    cohort: CohortSpec | None = None  # scores are cohort-normalised exactly when the model ships one

    @model_validator(mode="after")
    def _compaction_iff_compact(self) -> ModelCard:
        if (self.weights == "fp32") != (self.compaction is None):
            raise ValueError(f"weights {self.weights!r} needs compaction details exactly when it is not fp32")
        return self

    @model_validator(mode="after")
    def _thresholds_in_scoring_units(self) -> ModelCard:
        # a threshold only means something on the scores it was calibrated on
        if self.calibration is not None and self.calibration.scoring != scoring_of(bool(self.cohort)):
            raise ValueError(f"calibration scoring {self.calibration.scoring!r} does not match a card "
                             f"{'with' if self.cohort else 'without'} a cohort: recalibrate")
        return self

    def updated(self, **fields: object) -> ModelCard:
        """A copy with `fields` replaced, validated as a whole (pydantic's model_copy skips validation)."""
        return ModelCard.model_validate(self.model_copy(update=fields).model_dump(by_alias=True))

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2) + "\n"

    def write(self, model_dir: Path) -> Path:
        """Write model_dir/model.json (creating model_dir) and return its path."""
        model_dir.mkdir(parents=True, exist_ok=True)
        path = model_dir / CARD_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)  # atomic, so a reader never sees half a card
        return path


def load_model_card(model_dir: Path) -> ModelCard:
    """Read and validate model_dir/model.json; missing -> model_unavailable, bad -> invalid_model."""
    path = Path(model_dir) / CARD_FILE
    if not path.is_file():
        raise FaceverError(
            ErrorCode.model_unavailable,
            f"no model card at {path}; is the embedder installed?",
            model_dir=str(model_dir),
        )
    try:
        return ModelCard.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:  # pydantic's ValidationError, JSONDecodeError, UnicodeDecodeError
        raise FaceverError(
            ErrorCode.invalid_model, f"invalid model card {path}: {exc}", model_dir=str(model_dir)
        ) from exc
