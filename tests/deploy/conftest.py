"""Deploy fixtures: the service fixtures (the repository's models folder with the detector and the shipped
default embedder, and that embedder's card)."""

from tests.service.conftest import service_card, service_settings  # noqa: F401
