"""The `facever` command line; each module registers its commands on the one `app`."""

from service.cli import admin, gallery, pipeline, training  # noqa: F401  (registers the commands)
from service.cli.common import app

__all__ = ["app"]
