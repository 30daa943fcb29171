"""Aligned face crops -> L2-normalised embeddings with the ONNX embedder (orig+flip contract)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.config import Settings
from service.errors import ErrorCode, FaceverError
from service.vision.cohort import Scoring, load_cohort
from service.vision.file_hash import file_sha256
from service.vision.model_card import ONNX_FILE, InputSpec, ModelCard, load_model_card
from service.vision.onnx_session import open_session

INPUT = InputSpec()  # the input-normalisation contract; the card of every served model must match it
CHUNK = 64  # crops per ONNX run (2x that many images with the flips): bounds memory for big batches


def preprocess(crops: np.ndarray) -> np.ndarray:
    """(N, 112, 96, 3) uint8 RGB crops -> (N, 3, 112, 96) float32, (pixel - 127.5) / 128."""
    check_crops(crops)
    x = crops.transpose(0, 3, 1, 2).astype(np.float32)
    return (x - np.float32(INPUT.mean)) * np.float32(INPUT.scale)


def preprocess_with_flips(crops: np.ndarray) -> np.ndarray:
    """The concat_flip network input: the N crops, then their N left-right mirrors, preprocessed (2N, 3, 112, 96)."""
    return preprocess(np.concatenate([crops, crops[:, :, ::-1]]))


def check_crops(crops: np.ndarray) -> None:
    """Crops come from the aligner, so a wrong shape or dtype is a programming error: ValueError."""
    expected = (INPUT.height, INPUT.width, INPUT.channels)
    if not isinstance(crops, np.ndarray) or crops.ndim != 4 or crops.shape[1:] != expected:
        raise ValueError(f"crops must be an (N, {', '.join(map(str, expected))}) array, got "
                         f"{getattr(crops, 'shape', type(crops).__name__)}")
    if crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8 RGB, got {crops.dtype}")


class Embedder:
    """One loaded embedder: verifies the card, ONNX file and cohort, then embeds batches of aligned crops;
    `scoring` scores its embeddings as the card's thresholds expect."""

    def __init__(self, model_dir: Path, *, device: str = "cpu", threads: int = 0) -> None:
        model_dir = Path(model_dir)
        self.card: ModelCard = load_model_card(model_dir)
        self._invalid_unless(self.card.input == INPUT, f"card input {self.card.input} != contract {INPUT}")
        onnx_path = model_dir / ONNX_FILE
        self._session = open_session(onnx_path, device=device, threads=threads)
        sha = file_sha256(onnx_path)
        self._invalid_unless(sha == self.card.onnx_sha256,
                             f"{onnx_path} sha256 {sha} does not match the card's {self.card.onnx_sha256}")
        self._check_io(onnx_path)
        self.dim: int = self.card.embedding.dim
        self.model_dir = model_dir
        cohort = self.card.cohort
        self.scoring = Scoring(None if cohort is None else load_cohort(model_dir, cohort, self.dim))

    def _invalid_unless(self, ok: bool, message: str) -> None:
        if not ok:
            raise FaceverError(ErrorCode.invalid_model, message)

    def _check_io(self, onnx_path: Path) -> None:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        self._invalid_unless(len(inputs) == 1 and len(outputs) == 1,
                             f"{onnx_path} must have one input and one output")
        in_shape, out_shape = inputs[0].shape, outputs[0].shape
        # symbolic (str) or unknown (None) batch axis: the flips ride in the same run as the crops
        self._invalid_unless(
            len(in_shape) == 4 and not isinstance(in_shape[0], int)
            and list(in_shape[1:]) == [INPUT.channels, INPUT.height, INPUT.width],
            f"{onnx_path} input shape {in_shape} is not (batch, 3, 112, 96) with a dynamic batch")
        self._invalid_unless(len(out_shape) == 2 and out_shape[1] == self.card.embedding.feature_dim,
                             f"{onnx_path} output shape {out_shape} does not give "
                             f"{self.card.embedding.feature_dim} features as the card says")
        self._input_name = inputs[0].name

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(settings.embedder_dir, device=settings.device, threads=settings.threads)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """(N, 112, 96, 3) uint8 RGB aligned crops -> (N, dim) float32 L2-normalised.

        The crop and its horizontal flip go through ONE batched ONNX run (2N); features concatenated
        [f(x), f(flip(x))] and L2 normalised (DESIGN.md embedding contract)."""
        check_crops(crops)
        if len(crops) == 0:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate([self._embed_chunk(crops[i:i + CHUNK]) for i in range(0, len(crops), CHUNK)])

    def _embed_chunk(self, crops: np.ndarray) -> np.ndarray:
        n = len(crops)
        if self.card.embedding.fusion == "concat_flip":
            feats = self._session.run(None, {self._input_name: preprocess_with_flips(crops)})[0]
            emb = np.concatenate([feats[:n], feats[n:]], axis=1)
        else:
            emb = self._session.run(None, {self._input_name: preprocess(crops)})[0]
        emb = emb.astype(np.float32, copy=False)
        if self.card.embedding.normalised:
            emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), np.float32(1e-12))
        return emb
