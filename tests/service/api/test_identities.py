"""Identities CRUD through HTTP on SQLite and Postgres: pagination, filters, conflicts, coded errors."""

from __future__ import annotations

import pytest

from service.api.schemas import MAX_ID
from tests.service.api.helpers import assert_error, lfw


def _create(admin, name: str, **fields) -> dict:
    response = admin.post("/v1/identities", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def test_create_get_update_delete(admin):
    created = _create(admin, "Ada Lovelace", external_id="emp-1", metadata={"team": "maths"})
    assert created["name"] == "Ada Lovelace" and created["metadata"] == {"team": "maths"}
    path = f"/v1/identities/{created['id']}"
    assert admin.get(path).json() == created

    patched = admin.patch(path, json={"metadata": {"team": "engines"}}).json()
    assert patched["metadata"] == {"team": "engines"}
    assert patched["name"] == "Ada Lovelace" and patched["external_id"] == "emp-1"  # untouched fields stay
    cleared = admin.patch(path, json={"external_id": None}).json()
    assert cleared["external_id"] is None

    assert admin.delete(path).status_code == 204
    assert_error(admin.get(path), 404, "not_found")
    assert_error(admin.delete(path), 404, "not_found")


def test_a_deleted_identity_id_is_never_given_again(admin):
    first = _create(admin, "Held By A Client")["id"]
    assert admin.delete(f"/v1/identities/{first}").status_code == 204
    second = _create(admin, "Someone Else")["id"]
    assert second > first
    assert_error(admin.get(f"/v1/identities/{first}"), 404, "not_found")  # the old id reaches nobody


def test_list_is_paginated_and_filtered(admin):
    ids = [_create(admin, f"Pager {i}", external_id=f"pager-{i}")["id"] for i in range(5)]
    first = admin.get("/v1/identities", params={"name": "pager", "limit": 2}).json()
    second = admin.get("/v1/identities", params={"name": "PAGER", "limit": 2, "offset": 2}).json()
    last = admin.get("/v1/identities", params={"name": "pager", "limit": 2, "offset": 4}).json()
    assert first["total"] == second["total"] == last["total"] == 5
    assert [item["id"] for page in (first, second, last) for item in page["items"]] == ids
    only = admin.get("/v1/identities", params={"external_id": "pager-3"}).json()
    assert [item["id"] for item in only["items"]] == [ids[3]]
    assert admin.get("/v1/identities", params={"name": "nobody-has-this"}).json()["total"] == 0


@pytest.mark.parametrize(
    "query, finds",
    [("JÜRGEN", True), ("jürgen", True), ("GROSS", True), ("groß", True), ("gross", True), ("ＧＲＯＳＳ", True),
     ("JU\u0308RGEN", True), ("jürgen groß", True), ("Jurgen", False), ("GROẞ", True), ("σίσυφος", True),
     ("ΣΊΣΥΦΟΣ", True), ("ΣΊΣΥΦΟς", True), ("Sisyphus", False), ("%", False), ("_", False)],
    ids=["upper-umlaut", "lower", "ss-for-sharp-s", "sharp-s", "lower-ss", "fullwidth", "combining-umlaut",
         "whole-name", "no-accent-no-match", "capital-sharp-s", "greek-lower", "greek-upper", "final-sigma",
         "other-name", "like-percent", "like-underscore"],
)
def test_name_filter_folds_case_for_every_script(admin, query, finds):
    """The rule: NFKC + full Unicode case folding on both sides, then a substring match; accents still count."""
    names = {"Jürgen Groß": _create(admin, "Jürgen Groß")["id"], "ΣΊΣΥΦΟΣ": _create(admin, "Σίσυφος")["id"]}
    found = {item["id"] for item in admin.get("/v1/identities", params={"name": query, "limit": 500}).json()["items"]}
    assert bool(found & set(names.values())) is finds, found
    for identity in names.values():
        admin.delete(f"/v1/identities/{identity}")


def test_a_renamed_identity_is_found_by_its_new_name(admin):
    identity = _create(admin, "Ödön Horváth")["id"]
    assert admin.patch(f"/v1/identities/{identity}", json={"name": "Straße Weiß"}).status_code == 200
    found = admin.get("/v1/identities", params={"name": "STRASSE WEISS"}).json()["items"]
    assert [item["id"] for item in found] == [identity]
    assert admin.get("/v1/identities", params={"name": "ÖDÖN"}).json()["total"] == 0


def test_external_id_is_unique(admin):
    first = _create(admin, "One", external_id="dup-ext")
    assert_error(admin.post("/v1/identities", json={"name": "Two", "external_id": "dup-ext"}), 409, "conflict")
    other = _create(admin, "Other")
    assert_error(admin.patch(f"/v1/identities/{other['id']}", json={"external_id": "dup-ext"}), 409, "conflict")
    assert admin.get(f"/v1/identities/{first['id']}").json()["external_id"] == "dup-ext"


@pytest.mark.parametrize(
    "method, path, kwargs",
    [
        ("post", "/v1/identities", {"json": {"nmae": "typo"}}),
        ("post", "/v1/identities", {"json": {"name": ""}}),
        ("post", "/v1/identities", {"json": {"name": "x" * 256}}),
        ("post", "/v1/identities", {"json": {"name": "nul\x00byte"}}),
        ("post", "/v1/identities", {"json": {"name": "a", "metadata": [1, 2]}}),
        ("post", "/v1/identities", {"json": {"name": "a", "metadata": {"big": "x" * 20000}}}),
        ("post", "/v1/identities", {"content": b"{oops", "headers": {"content-type": "application/json"}}),
        ("patch", "/v1/identities/1", {"json": {"name": None}}),
        ("get", "/v1/identities/abc", {}),
        ("get", f"/v1/identities/{MAX_ID + 1}", {}),
        ("get", "/v1/identities", {"params": {"limit": 0}}),
        ("get", "/v1/identities", {"params": {"offset": -1}}),
        ("get", "/v1/identities", {"params": {"name": "a\x00b"}}),
    ],
    ids=["misspelt", "empty-name", "long-name", "nul", "metadata-list", "metadata-big", "bad-json",
         "null-name", "id-not-int", "id-too-big", "limit-0", "offset-negative", "filter-nul"],
)
def test_bad_input_is_a_422(admin, method, path, kwargs):
    assert_error(getattr(admin, method)(path, **kwargs), 422, "validation_error")


def test_unknown_identity_is_a_404(admin):
    assert_error(admin.patch(f"/v1/identities/{MAX_ID}", json={"name": "x"}), 404, "not_found")
    assert_error(admin.get(f"/v1/identities/{MAX_ID}/faces"), 404, "not_found")


def test_an_identity_says_how_many_faces_it_has(admin):
    identity = _create(admin, "Hans Blix")
    assert identity["faces"] == 0
    images = [("images", (f"{k}.jpg", lfw("Hans_Blix", k), "image/jpeg")) for k in (7, 8)]
    assert admin.post(f"/v1/identities/{identity['id']}/faces", files=images).status_code == 201
    path = f"/v1/identities/{identity['id']}"
    assert admin.get(path).json()["faces"] == 2
    assert admin.patch(path, json={"external_id": "hb"}).json()["faces"] == 2
    listed = admin.get("/v1/identities", params={"external_id": "hb"}).json()["items"]
    assert [(item["id"], item["faces"]) for item in listed] == [(identity["id"], 2)]
    face = admin.get(f"{path}/faces").json()["items"][0]["id"]
    assert admin.delete(f"{path}/faces/{face}").status_code == 204
    assert admin.get(path).json()["faces"] == 1
    admin.delete(path)
