"""Faces stored by another embedder: after a model switch they are not searched until `facever reembed`."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from service.gallery import repository


def other_model_warning(session_factory: sessionmaker[Session], embedder: str) -> str | None:
    """A sentence for the operator when stored faces are invisible to `embedder`; None when there are none."""
    with session_factory() as session:
        missing = repository.faces_missing_from(session, embedder)
    if not missing:
        return None
    total = sum(missing.values())
    by_model = ", ".join(f"{count} by {name}" for name, count in missing.items())
    return (
        f"{total} stored face(s) were embedded by another model ({by_model}) and are not searched with {embedder}: "
        f"run `facever reembed` (FACEVER_EMBEDDER={embedder}) to add those with a stored crop; "
        "faces without one must be enrolled again"
    )
