"""Requests that are almost right are refused with a code, never half-read: a query parameter sent twice, a JSON
field of the wrong JSON type, an image part that is not a file."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.service.api.helpers import assert_error, lfw

PHOTO = lfw("Aaron_Peirsol")
PHOTO_B64 = base64.b64encode(PHOTO).decode()
# a value each query parameter of the API accepts on its own
VALID_QUERY = {"offset": "0", "limit": "1", "name": "a", "external_id": "a", "pairs": "1", "strays": "1"}
# each upload route with a body it accepts, in JSON
UPLOADS = {
    "/v1/verify": {"image_a": PHOTO_B64, "image_b": PHOTO_B64},
    "/v1/identify": {"image": PHOTO_B64},
    "/v1/identities/1/faces": {"images": [PHOTO_B64]},
}
IMAGE_FIELDS = {"/v1/verify": "image_a", "/v1/identify": "image", "/v1/identities/1/faces": "images"}


def _query_operations(admin: TestClient) -> list[tuple[str, str, dict]]:
    """(method, path template, operation) of every operation that reads the query."""
    return [(method, path, operation) for path, operations in admin.app.openapi()["paths"].items()
            for method, operation in operations.items()
            if any(parameter["in"] == "query" for parameter in operation.get("parameters", []))]


def test_every_route_that_reads_the_query_refuses_a_parameter_sent_twice(admin: TestClient) -> None:
    operations = _query_operations(admin)
    assert {path for _, path, _ in operations} == {"/v1/identities", "/v1/identities/{identity_id}/faces",
                                                   "/v1/gallery/separability"}
    for method, template, operation in operations:
        path = template.replace("{identity_id}", "1")
        assert "`invalid_request`" in operation["responses"]["400"]["description"]  # documented
        for name in (p["name"] for p in operation["parameters"] if p["in"] == "query"):
            for second in (VALID_QUERY[name], "2"):  # the same value twice, or two values: either is ambiguous
                response = admin.request(method, path, params=[(name, VALID_QUERY[name]), (name, second)])
                body = assert_error(response, 400, "invalid_request")
                assert body["error"]["details"] == {"field": name, "count": 2}, (path, name)
            assert admin.request(method, path, params={name: VALID_QUERY[name]}).status_code in (200, 404)


@pytest.mark.parametrize("route", UPLOADS)
@pytest.mark.parametrize(("field", "value"), [("threshold", "0.5"), ("threshold", True), ("face_policy", 1)])
def test_a_json_field_of_the_wrong_json_type_is_refused(admin: TestClient, route: str, field: str, value) -> None:
    if field == "face_policy" and route.endswith("faces"):
        field = "pick_largest"  # enrolment's one typed field
    body = assert_error(admin.post(route, json={**UPLOADS[route], field: value}), 422, "validation_error")
    assert [error["field"] for error in body["error"]["details"]["errors"]] == [field]


@pytest.mark.parametrize(("field", "value"), [("all_faces", 0), ("all_faces", "true"), ("top_k", "5")])
def test_identify_refuses_numbers_for_booleans_and_text_for_numbers(admin: TestClient, field: str, value) -> None:
    body = assert_error(admin.post("/v1/identify", json={"image": PHOTO_B64, field: value}), 422, "validation_error")
    assert [error["field"] for error in body["error"]["details"]["errors"]] == [field]


def test_a_whole_number_written_as_5_0_is_the_integer_5(admin: TestClient) -> None:
    # JSON has one number type and JSON Schema calls 5.0 an integer; so does the API
    response = admin.post("/v1/identify", json={"image": PHOTO_B64, "top_k": 1.0, "all_faces": False})
    assert response.status_code == 200, response.text
    assert admin.post("/v1/identify", json={"image": PHOTO_B64, "top_k": 1.5}).status_code == 422


def test_form_fields_are_still_read_from_their_text(admin: TestClient) -> None:
    response = admin.post("/v1/identify", files={"image": ("a.jpg", PHOTO, "image/jpeg")},
                          data={"top_k": "1", "all_faces": "true"})
    assert response.status_code == 200, response.text
    assert len(response.json()["faces"]) == 1


@pytest.mark.parametrize("route", UPLOADS)
def test_an_image_part_without_a_filename_is_refused_saying_how_to_send_it(admin: TestClient, route: str) -> None:
    field = IMAGE_FIELDS[route]
    files = {name: ("photo.jpg", PHOTO, "image/jpeg") for name in ("image_a", "image_b") if route == "/v1/verify"}
    files[field] = (None, PHOTO, "image/jpeg")  # no filename: the form parser hands it over as decoded text
    body = assert_error(admin.post(route, files=files), 422, "validation_error")
    assert body["error"]["details"] == {"field": field}
    assert "as a file" in body["error"]["message"]


@pytest.mark.parametrize("route", ["/v1/verify", "/v1/identify"])
@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"far": 0.001, "threshold": 0.5}, "threshold", "send far or threshold, not both"),
    ({"far": 1e-10}, "far", "greater than or equal to 0.000000001"),
    ({"far": 0.2}, "far", "less than or equal to 0.1"),
])
def test_a_decision_names_one_valid_strictness(admin: TestClient, route: str, fields: dict, field: str,
                                               message: str) -> None:
    body = assert_error(admin.post(route, json={**UPLOADS[route], **fields}), 422, "validation_error")
    (error,) = body["error"]["details"]["errors"]
    assert error["field"] == field and message in error["message"], error


def test_far_names_the_threshold_a_verify_answer_uses(admin: TestClient, service_card) -> None:
    from service.decisions import threshold_at

    for far in (0.05, 0.001):
        answer = admin.post("/v1/verify", json={**UPLOADS["/v1/verify"], "far": far}).json()
        assert answer["far"] == far and answer["threshold"] == threshold_at(service_card.calibration, far, 1)
