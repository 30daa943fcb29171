"""Open ONNX Runtime sessions the one way the service does: device -> providers, threads, coded errors."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from service.errors import ErrorCode, FaceverError


def providers_for(device: str) -> list[str]:
    """Execution providers for `cpu` or `cuda`; cuda without onnxruntime-gpu is `device_unavailable`."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device != "cuda":
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise FaceverError(
            ErrorCode.device_unavailable,
            "device 'cuda' requested but this onnxruntime build has no CUDAExecutionProvider; "
            "install onnxruntime-gpu (the 'gpu' extra) or set FACEVER_DEVICE=cpu",
            available=ort.get_available_providers(),
        )
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


def open_session(path: Path, *, device: str = "cpu", threads: int = 0, spin: bool = True,
                 missing_hint: str = "") -> ort.InferenceSession:
    """A session on `path`: missing file -> model_unavailable, unloadable -> invalid_model,
    CUDA asked for but silently dropped by ORT -> device_unavailable."""
    providers = providers_for(device)
    if not path.is_file():
        raise FaceverError(ErrorCode.model_unavailable, f"model file {path} is missing{missing_hint}", path=str(path))
    options = ort.SessionOptions()
    if threads > 0:
        options.intra_op_num_threads = threads
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types for unreadable or bad graphs
        raise FaceverError(ErrorCode.invalid_model, f"onnxruntime cannot load {path}: {exc}", path=str(path)) from exc
    if device == "cuda" and "CUDAExecutionProvider" not in session.get_providers():
        # ORT falls back to CPU without a word when the CUDA libraries fail to load
        raise FaceverError(ErrorCode.device_unavailable, "CUDAExecutionProvider failed to initialise (CUDA/cuDNN?)")
    return session
