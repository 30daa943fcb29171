"""Deploy fixtures: the service fixtures (a models folder with the detector and the placeholder embedder)."""

from tests.service.conftest import random_embedder_dir, service_settings  # noqa: F401
