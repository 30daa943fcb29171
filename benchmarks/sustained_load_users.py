"""The locust users of benchmarks/sustained_load.py: a mix of verify, identify, enrol and delete.

Run by `locust -f benchmarks/sustained_load_users.py` with FACEVER_LOAD_PLAN naming the JSON plan the benchmark
writes: the services' base URLs (each user keeps one, chosen at random), the admin key, the photos known to
hold one enrollable face, the seeded identities and the mix. Identities the load enrols are deleted by the load; the seeded gallery
is never touched, so identify always has candidates. Any answer other than the route's success status is a
failure, as is a request without an answer within REQUEST_TIMEOUT_S.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from locust import HttpUser, between, task

PLAN = json.loads(Path(os.environ["FACEVER_LOAD_PLAN"]).read_text())
PHOTOS = [Path(path).read_bytes() for path in PLAN["photos"]]
MIX = PLAN["mix"]
REQUEST_TIMEOUT_S = 60.0
LOADED: list[int] = []  # identities enrolled by the load and not deleted yet, shared by the users (one process)


def _jpeg(photo: bytes) -> tuple[str, bytes, str]:
    return ("face.jpg", photo, "image/jpeg")


class FaceServiceUser(HttpUser):
    wait_time = between(*PLAN["wait_s"])

    def on_start(self) -> None:
        self.client.base_url = random.choice(PLAN["hosts"])
        self.client.headers["X-API-Key"] = PLAN["api_key"]
        # a new connection per request, as from many clients: a kept-alive connection stays with one uvicorn worker
        self.client.headers["Connection"] = "close"

    def _post(self, path: str, name: str, expected: int, **kwargs):
        with self.client.post(path, name=name, timeout=REQUEST_TIMEOUT_S, catch_response=True, **kwargs) as answer:
            if answer.status_code != expected:
                answer.failure(f"{answer.status_code} {answer.text[:200]}")
            return answer

    @task(MIX["verify"])
    def verify(self) -> None:
        first, second = random.sample(PHOTOS, 2)
        if random.random() < 0.5:
            self._post("/v1/verify", "verify photo-photo", 200, files={"image_a": _jpeg(first), "image_b": _jpeg(second)})
        else:
            self._post("/v1/verify", "verify photo-identity", 200, files={"image_a": _jpeg(first)},
                       data={"identity_id": str(random.choice(PLAN["seeded"]))})

    @task(MIX["identify"])
    def identify(self) -> None:
        self._post("/v1/identify", "identify", 200, files={"image": _jpeg(random.choice(PHOTOS))},
                   data={"top_k": "5"})

    @task(MIX["enrol"])
    def enrol(self) -> None:
        created = self._post("/v1/identities", "create identity", 201, json={"name": "load"})
        if created.status_code != 201:
            return
        identity_id = created.json()["id"]
        enrolled = self._post(f"/v1/identities/{identity_id}/faces", "enrol face", 201,
                              files={"images": _jpeg(random.choice(PHOTOS))})
        if enrolled.status_code == 201:
            LOADED.append(identity_id)

    @task(MIX["delete"])
    def delete(self) -> None:
        if not LOADED:
            return self.enrol()
        identity_id = LOADED.pop(random.randrange(len(LOADED)))
        with self.client.delete(f"/v1/identities/{identity_id}", name="delete identity", timeout=REQUEST_TIMEOUT_S,
                                catch_response=True) as answer:
            if answer.status_code != 204:
                answer.failure(f"{answer.status_code} {answer.text[:200]}")
        return None
