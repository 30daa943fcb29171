"""The REST API: routes, request/response schemas, the error envelope."""
