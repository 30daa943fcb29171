"""The OpenAPI document's operationIds, its links (what a created identity or face leads to) and the exclusive
fields of /v1/verify, checked against the document itself."""

from __future__ import annotations

import jsonschema_rs
import pytest

from service.app import create_app
from service.config import Settings


@pytest.fixture(scope="module")
def document(service_settings: Settings) -> dict:
    return create_app(service_settings).openapi()


def _operations(document: dict) -> dict[str, tuple[str, dict]]:
    return {op["operationId"]: (path, op) for path, ops in document["paths"].items() for op in ops.values()}


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _points_into(document: dict, schema: dict, pointer: str) -> bool:
    """Whether a JSON pointer such as /results/0/face_id names a field the schema declares."""
    for step in pointer.strip("/").split("/"):
        schema = _resolve(document, schema)
        schema = schema["items"] if step.isdigit() else schema.get("properties", {}).get(step)
        if schema is None:
            return False
    return True


def test_operation_ids_are_the_route_names(document: dict) -> None:
    ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert {"create_identity", "get_identity", "enrol", "delete_face", "verify", "identify"} <= set(ids)


def test_every_link_fills_its_targets_path_from_a_field_the_source_declares(document: dict) -> None:
    operations = _operations(document)
    linked = set()
    for source_path, source in operations.values():
        for response in source["responses"].values():
            for link in response.get("links", {}).values():
                _, target = operations[link["operationId"]]
                path_params = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert set(link["parameters"]) == path_params, link
                body = response["content"]["application/json"]["schema"]
                for expression in link["parameters"].values():
                    where, _, pointer = expression.partition("#")
                    if where == "$response.body":
                        assert _points_into(document, body, pointer), expression
                    else:  # the source request's own path parameter
                        assert where.startswith("$request.path.") and f"{{{where.rsplit('.', 1)[1]}}}" in source_path
                linked.add((source["operationId"], link["operationId"]))
    # a created identity leads to its reads, edits, enrolment and deletion; an enrolled face to its deletion
    assert {("create_identity", "get_identity"), ("create_identity", "enrol"), ("create_identity", "delete_identity"),
            ("enrol", "delete_face")} <= linked


@pytest.mark.parametrize("media_type", ["multipart/form-data", "application/json"])
def test_verify_takes_exactly_one_of_image_b_and_identity_id(document: dict, media_type: str) -> None:
    schema = document["paths"]["/v1/verify"]["post"]["requestBody"]["content"][media_type]["schema"]
    valid = jsonschema_rs.validator_for(schema).is_valid
    image = "an image"  # the schema types images as strings (binary or base64); their content is not checked here
    assert valid({"image_a": image, "image_b": image})
    assert valid({"image_a": image, "identity_id": 7})
    assert not valid({"image_a": image})
    assert not valid({"image_a": image, "image_b": image, "identity_id": 7})
    # in JSON a null identity_id means "not sent", as the service reads it
    assert valid({"image_a": image, "image_b": image, "identity_id": None}) == (media_type == "application/json")
