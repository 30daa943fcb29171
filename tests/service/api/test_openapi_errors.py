"""The OpenAPI document describes the real error envelope and the statuses each route answers with."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.config import Settings
from service.errors import ErrorCode
from tests.service.api.helpers import assert_error

ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


@pytest.fixture(scope="module")
def document(service_settings: Settings) -> dict:
    return create_app(service_settings).openapi()


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_error_response_is_the_envelope_and_names_its_codes(document: dict) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's {"detail"}: never sent
    codes = set(document["components"]["schemas"]["ErrorCode"]["enum"])
    assert codes == {code.value for code in ErrorCode}
    for method, path, op in _operations(document):
        for status, response in op["responses"].items():
            if int(status) < 400 or (path, status) == ("/v1/ready", "503"):
                continue
            assert response["content"]["application/json"]["schema"] == ENVELOPE, (method, path, status)
            named = {code for code in codes if f"`{code}`" in response["description"]}
            assert named and all(ErrorCode(code).status == int(status) for code in named), (method, path, status)


def test_protected_routes_document_auth_and_admin_routes_the_role(document: dict) -> None:
    for method, path, op in _operations(document):
        if path in ("/v1/health", "/v1/ready"):
            continue
        assert "401" in op["responses"], (method, path)
        writes = method in ("post", "patch", "delete") and path not in ("/v1/verify", "/v1/identify")
        admin_only = writes or path.startswith("/v1/keys")  # keys are admin's, even to list
        assert ("403" in op["responses"]) == admin_only, (method, path)


def test_upload_bodies_state_their_fields_and_limits(document: dict) -> None:
    verify = document["paths"]["/v1/verify"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert verify["additionalProperties"] is False and verify["required"] == ["image_a"]
    assert [branch["required"] for branch in verify["oneOf"]] == [["image_b"], ["identity_id"]]
    assert verify["properties"]["face_policy"]["enum"] == ["largest", "centre"]
    assert "null" not in str(verify["properties"]["threshold"])  # a form field cannot be null
    enrol = document["paths"]["/v1/identities/{identity_id}/faces"]["post"]["requestBody"]["content"]
    images = enrol["multipart/form-data"]["schema"]["properties"]["images"]
    assert (images["minItems"], images["maxItems"], images["items"]["format"]) == (1, 20, "binary")


def test_an_unknown_query_parameter_is_refused(admin: TestClient) -> None:
    assert_error(admin.get("/v1/identities", params={"nmae": "Hans"}), 422, "unexpected_field")


def test_routes_that_touch_the_database_document_its_outage(document: dict) -> None:
    for method, path, op in _operations(document):
        if path == "/v1/health":  # answers without the database
            assert "503" not in op["responses"], (method, path)
        elif path != "/v1/ready":  # its 503 is the readiness body, naming the failed check
            assert "`database_unavailable`" in op["responses"]["503"]["description"], (method, path)


def test_routes_that_read_a_body_document_its_timeout_and_size(document: dict) -> None:
    for method, path, op in _operations(document):
        responses = op["responses"]
        if "requestBody" in op:
            assert "`body_timeout`" in responses["408"]["description"], (method, path)
            assert "`image_too_large`" in responses["413"]["description"], (method, path)
        else:
            assert "408" not in responses, (method, path)
