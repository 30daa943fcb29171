"""POST /v1/verify through HTTP: real LFW images, real MTCNN and ONNX Runtime, every bad input coded."""

from __future__ import annotations

import base64
import logging
import textwrap
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from tests.conftest import lfw_image
from tests.service.api.helpers import GREY, assert_error
from tests.service.conftest import verify_threshold

PEIRSOL_1 = lfw_image("Aaron_Peirsol", 1).read_bytes()
PEIRSOL_2 = lfw_image("Aaron_Peirsol", 3).read_bytes()
# pairs the shipped model must decide right at its card's best-accuracy threshold: clear, frontal LFW photos
SAME_PERSON = {
    "peirsol": (PEIRSOL_1, PEIRSOL_2),
    "blix": (lfw_image("Hans_Blix", 8).read_bytes(), lfw_image("Hans_Blix", 18).read_bytes()),
    "garner": (lfw_image("Jennifer_Garner", 3).read_bytes(), lfw_image("Jennifer_Garner", 12).read_bytes()),
}
DIFFERENT_PEOPLE = {
    "peirsol-blix": (PEIRSOL_1, lfw_image("Hans_Blix", 8).read_bytes()),
    "garner-williams": (lfw_image("Jennifer_Garner", 3).read_bytes(), lfw_image("Serena_Williams", 1).read_bytes()),
    "peirsol-blair": (PEIRSOL_1, lfw_image("Tony_Blair", 134).read_bytes()),
}


@pytest.fixture(scope="module")
def settings(service_settings):
    # image-pair verification needs no key set-up; auth has its own tests
    return service_settings.model_copy(update={"auth": False})


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as client:
        yield client


def _files(a: bytes, b: bytes) -> dict:
    return {"image_a": ("a.jpg", a, "image/jpeg"), "image_b": ("b.jpg", b, "image/jpeg")}


def test_same_image_has_similarity_one_and_reports_both_faces(client, service_card):
    response = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_1))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["similarity"] == pytest.approx(1.0, abs=1e-5)
    for face in (body["face_a"], body["face_b"]):
        assert len(face["box"]) == 4 and len(face["landmarks"]) == 5 and face["score"] > 0.9
    # the decision uses the card's calibrated best-accuracy threshold
    assert body["model"] == service_card.name
    assert body["threshold"] == pytest.approx(verify_threshold(service_card)) and body["match"] is True


@pytest.mark.parametrize("pair", SAME_PERSON, ids=str)
def test_two_photos_of_one_person_match(client, service_card, pair):
    body = client.post("/v1/verify", files=_files(*SAME_PERSON[pair])).json()
    assert body["threshold"] == pytest.approx(verify_threshold(service_card))
    assert body["match"] is True, body["similarity"]
    assert body["similarity"] < 1.0 - 1e-3  # two photos, not one photo twice


@pytest.mark.parametrize("pair", DIFFERENT_PEOPLE, ids=str)
def test_photos_of_two_people_do_not_match(client, service_card, pair):
    body = client.post("/v1/verify", files=_files(*DIFFERENT_PEOPLE[pair])).json()
    assert body["threshold"] == pytest.approx(verify_threshold(service_card))
    assert body["match"] is False, body["similarity"]


def test_json_base64_gives_the_same_answer_as_multipart(client):
    multipart = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_2)).json()
    encoded = {name: base64.b64encode(data).decode() for name, data in (("image_a", PEIRSOL_1), ("image_b", PEIRSOL_2))}
    as_json = client.post("/v1/verify", json=encoded).json()
    assert as_json["similarity"] == pytest.approx(multipart["similarity"], abs=1e-6)
    assert as_json["face_a"] == multipart["face_a"]


@pytest.mark.parametrize(
    "wrap",
    [
        lambda data: base64.encodebytes(data).decode(),  # what the `base64` tool prints: 76 columns, "\n"
        lambda data: base64.encodebytes(data).decode().replace("\n", "\r\n"),
        lambda data: "data:image/jpeg;base64," + base64.encodebytes(data).decode(),
        lambda data: " \t" + " ".join(textwrap.wrap(base64.b64encode(data).decode(), 64)) + "\n",
    ],
    ids=["base64-tool", "crlf", "data-url-wrapped", "spaces-and-tabs"],
)
def test_wrapped_base64_and_data_urls_are_accepted(client, wrap):
    plain = {name: base64.b64encode(data).decode() for name, data in (("image_a", PEIRSOL_1), ("image_b", PEIRSOL_2))}
    expected = client.post("/v1/verify", json=plain).json()
    response = client.post("/v1/verify", json={"image_a": wrap(PEIRSOL_1), "image_b": wrap(PEIRSOL_2)})
    assert response.status_code == 200, response.text
    assert response.json()["similarity"] == pytest.approx(expected["similarity"], abs=1e-6)


@pytest.mark.parametrize(
    "garbage",
    ["not base64!", base64.b64encode(PEIRSOL_1).decode()[:-1], "data:image/jpeg;base64,@@@@",
     "data:image/jpeg," + base64.b64encode(PEIRSOL_1).decode(), "QUJD\nRA=\n=x"],
    ids=["punctuation", "bad-padding", "data-url-garbage", "data-url-not-base64", "wrapped-garbage"],
)
def test_garbage_base64_is_still_refused(client, garbage):
    body = assert_error(client.post("/v1/verify", json={"image_a": garbage, "image_b": garbage}), 400, "invalid_image")
    assert body["error"]["details"]["field"] == "image_a"


def test_threshold_override_decides_the_match(client):
    score = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_2)).json()["score"]
    # an explicit threshold applies to the score as is: just below it matches, just above it does not
    for margin, match in ((-0.001, True), (0.001, False)):
        threshold = round(score + margin, 6)
        body = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_2), data={"threshold": str(threshold)}).json()
        assert (body["threshold"], body["far"], body["match"]) == (threshold, None, match)


@pytest.mark.parametrize(
    "request_kwargs, status, code",
    [
        ({"files": _files(b"this is not an image", PEIRSOL_1)}, 400, "invalid_image"),
        ({"files": _files(PEIRSOL_1[: len(PEIRSOL_1) // 2], PEIRSOL_1)}, 400, "invalid_image"),
        ({"files": _files(GREY, PEIRSOL_1)}, 422, "no_face"),
        ({"files": {"image_a": ("a.jpg", PEIRSOL_1, "image/jpeg")}}, 422, "validation_error"),
        ({"files": _files(PEIRSOL_1, PEIRSOL_1), "data": {"thresold": "0.3"}}, 422, "validation_error"),
        ({"files": _files(PEIRSOL_1, PEIRSOL_1), "data": {"threshold": "high"}}, 422, "validation_error"),
        ({"files": {**_files(PEIRSOL_1, PEIRSOL_1), "image_c": ("c.jpg", PEIRSOL_1, "image/jpeg")}}, 422, "unexpected_field"),
        ({"json": {"image_a": "not base64!", "image_b": "x"}}, 400, "invalid_image"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "invalid_request"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "unsupported_media_type"),
    ],
    ids=["text", "truncated", "no-face", "missing-image", "misspelt-field", "bad-threshold", "extra-file",
         "bad-base64", "bad-json", "wrong-media-type"],
)
def test_bad_input_gets_a_coded_4xx(client, request_kwargs, status, code):
    assert_error(client.post("/v1/verify", **request_kwargs), status, code)


@pytest.mark.parametrize(
    "a, b, field",
    [(GREY, PEIRSOL_1, "image_a"), (PEIRSOL_1, GREY, "image_b"), (b"not an image", GREY, "image_a"),
     (PEIRSOL_1, b"not an image", "image_b")],
    ids=["a-no-face", "b-no-face", "both-bad-reports-a", "b-invalid"],
)
def test_an_image_error_names_its_image(client, a, b, field):
    body = client.post("/v1/verify", files=_files(a, b)).json()
    assert body["error"]["details"]["field"] == field
    assert body["error"]["message"].startswith(field)


def test_both_images_are_aligned_at_once_and_embedded_in_one_run(client, monkeypatch):
    pipeline = client.app.state.pipeline
    # each alignment waits for the other: the request completes only if they run concurrently
    barrier = threading.Barrier(2, timeout=10)
    align_one, embed = pipeline.align_one, pipeline.embedder.embed
    batches: list[int] = []
    monkeypatch.setattr(pipeline, "align_one", lambda *args: (barrier.wait(), align_one(*args))[1])
    monkeypatch.setattr(pipeline.embedder, "embed", lambda crops: (batches.append(len(crops)), embed(crops))[1])
    response = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_2))
    assert response.status_code == 200, response.text
    assert batches == [2]


def test_batched_verify_equals_embedding_each_image_alone(client):
    pipeline = client.app.state.pipeline
    body = client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_2)).json()
    face_a, face_b = pipeline.embed_one(PEIRSOL_1), pipeline.embed_one(PEIRSOL_2)
    assert body["similarity"] == pytest.approx(float(np.dot(face_a.embedding, face_b.embedding)), abs=1e-5)
    # the score is the similarity less the mean of both faces' cohort shifts (equal to it without a cohort)
    shifts = pipeline.embedder.scoring.shifts(np.stack([face_a.embedding, face_b.embedding]))
    assert body["score"] == pytest.approx(body["similarity"] - shifts.mean(), abs=1e-5)
    assert body["match"] == (body["score"] >= body["threshold"])
    assert body["face_a"]["box"] == pytest.approx(face_a.face.box.tolist(), abs=0.01)
    assert body["face_b"]["box"] == pytest.approx(face_b.face.box.tolist(), abs=0.01)
    pair = pipeline.embed_each({"a": PEIRSOL_1, "b": PEIRSOL_2})
    np.testing.assert_allclose(pair["a"].embedding, face_a.embedding, atol=1e-5)
    np.testing.assert_allclose(pair["b"].embedding, face_b.embedding, atol=1e-5)


def test_oversized_upload_is_refused(settings):
    small = settings.model_copy(update={"max_image_bytes": 5_000})
    with TestClient(create_app(small)) as client:
        assert_error(client.post("/v1/verify", files=_files(PEIRSOL_1, PEIRSOL_1)), 413, "image_too_large")


def test_unknown_route_and_method_use_the_envelope(client):
    assert_error(client.get("/v1/nope"), 404, "not_found")
    assert_error(client.get("/v1/verify"), 405, "method_not_allowed")


@pytest.mark.parametrize(
    "method, path, allowed",
    [("get", "/v1/verify", "POST"), ("put", "/v1/identify", "POST"), ("delete", "/v1/identities", "GET, POST"),
     ("post", "/v1/identities/1", "DELETE, GET, PATCH"), ("put", "/v1/identities/1/faces", "GET, POST"),
     ("get", "/v1/identities/1/faces/2", "DELETE"), ("post", "/v1/health", "GET")],
    ids=["verify", "identify", "identities", "identity", "faces", "face", "health"],
)
def test_a_405_names_every_allowed_method(client, method, path, allowed):
    response = getattr(client, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_every_error_response_is_logged_with_its_request_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="facever.api"):
        coded = client.post("/v1/verify", files=_files(GREY, PEIRSOL_1))  # a FaceverError
        framework = client.get("/v1/nope", headers={"X-Request-ID": "caller-chosen-id"})  # the router's 404
        invalid = client.get("/v1/identities/abc")  # request validation
    for response in (coded, framework, invalid):
        request_id = response.json()["request_id"]
        lines = [record.getMessage() for record in caplog.records if request_id in record.getMessage()]
        assert len(lines) == 1, caplog.text
        assert f"-> {response.status_code} {response.json()['error']['code']}" in lines[0]
    assert framework.json()["request_id"] == "caller-chosen-id"


@pytest.mark.parametrize("route", ["/v1/verify", "/v1/identify", "/v1/identities/1/faces"])
def test_fields_in_the_query_string_are_refused_not_ignored(client, route):
    body = assert_error(client.post(route, params={"top_k": "1"}, files=_files(PEIRSOL_1, PEIRSOL_2)),
                        422, "unexpected_field")
    assert body["error"]["details"]["field"] == "top_k" and "body" in body["error"]["message"]


def test_health_ready_and_openapi(client):
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.get("/v1/ready").json()["ready"] is True
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]["/v1/verify"]["post"]["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
