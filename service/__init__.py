"""facever service: the face pipeline, the gallery and the REST API."""
