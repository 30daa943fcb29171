"""Gallery on SQLite and Postgres: enrol/remove/search, two workers on one database, rebuild vs sync."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import faiss
import numpy as np
import pytest

from service.db.engine import make_engine, session_factory, write_session
from service.errors import ErrorCode, FaceverError
from service.gallery import repository
from service.gallery.gallery import Gallery
from service.gallery.index import IndexSettings
from service.vision.cohort import Cohort, Scoring
from tests.service.gallery.vectors import clusters, new_face, unit

DIM = 32
EMBEDDER = "test-embedder"
NEVER = 3600.0  # sync interval that never elapses during a test: syncs only when asked

MakeWorker = Callable[..., Gallery]


@pytest.fixture
def make_worker(migrated_url: str) -> Iterator[MakeWorker]:
    """Galleries with their own engine each, like separate worker processes on one database."""
    engines = []

    def make(
        sync_interval: float = 0.0,
        kind: str = "flat",
        params: dict | None = None,
        embedder: str = EMBEDDER,
        dim: int = DIM,
        threads: int = 0,
        scoring: Scoring | None = None,
    ) -> Gallery:
        engines.append(make_engine(migrated_url))
        settings = IndexSettings(kind, params or {}, threads)
        gallery = Gallery(session_factory(engines[-1]), embedder, dim, settings, sync_interval, scoring)
        gallery.rebuild()
        return gallery

    yield make
    for engine in engines:
        engine.dispose()


def _person(gallery: Gallery, name: str, embeddings: np.ndarray) -> tuple[int, list[int]]:
    with write_session(gallery.session_factory) as session:
        identity_id = repository.create_identity(session, name).id
    added = gallery.enrol(identity_id, [new_face(e) for e in embeddings])
    return identity_id, [a.face_id for a in added]


@pytest.fixture
def people() -> tuple[np.ndarray, np.ndarray]:
    return clusters(np.random.default_rng(1), 6, 3, DIM)


def test_search_scores_identities_by_their_template(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    gallery = make_worker()
    enrolled = [_person(gallery, f"person {i}", faces[i]) for i in range(len(centres))]
    assert len(gallery) == faces.shape[0] * faces.shape[1]
    results = gallery.search(centres[2], top_k=4)
    assert (results[0].identity_id, results[0].name) == (enrolled[2][0], "person 2")
    assert len({r.identity_id for r in results}) == len(results) == 4  # one result per identity
    assert [r.similarity for r in results] == sorted((r.similarity for r in results), reverse=True)
    best_face = int(np.argmax(faces[2] @ centres[2]))
    assert results[0].face_id == enrolled[2][1][best_face]
    template = faces[2].mean(axis=0) / np.linalg.norm(faces[2].mean(axis=0))
    assert results[0].similarity == pytest.approx(float(template @ centres[2]), abs=1e-5)
    assert results[0].faces == faces.shape[1]
    assert [r.identity_id for r in gallery.search(centres[2], 5, threshold=0.8)] == [enrolled[2][0]]
    assert gallery.search(-centres[2], 5, threshold=0.9) == []
    assert len(gallery.search(centres[0], top_k=100)) == len(centres) == gallery.identities
    match = gallery.match_identity(enrolled[4][0], centres[4])
    assert match is not None and match.face_id == enrolled[4][1][int(np.argmax(faces[4] @ centres[4]))]
    # verify against an identity and identify give the same score for the same identity
    found = {c.identity_id: c for c in gallery.search(centres[4], top_k=100)}
    assert found[enrolled[4][0]] == match


@pytest.mark.parametrize("kind,params", [("flat", {}), ("hnsw", {}), ("ivf", {"nlist": 1})])
def test_with_a_cohort_identities_rank_by_score_not_cosine(make_worker: MakeWorker, kind: str, params: dict) -> None:
    """A cohort crowded on one side of the space: identities there lose more of their score. The gallery ranks,
    thresholds and reports by score, and its index finds the score's order, not the cosine's."""
    rng = np.random.default_rng(7)
    crowd = unit(rng.normal(size=DIM))
    scoring = Scoring(Cohort(unit(crowd + 0.6 * rng.normal(size=(300, DIM))), top_k=5))
    centres, faces = clusters(rng, 40, 3, DIM)
    gallery = make_worker(kind=kind, params=params, scoring=scoring)
    ids = [_person(gallery, f"person {i}", faces[i])[0] for i in range(len(centres))]
    templates = unit(faces.mean(axis=1))
    probe = unit(centres[0] + crowd)  # between one identity and the crowd: cosine and score disagree on the order
    cosines = templates @ probe
    scores = scoring.score(cosines, scoring.shifts(probe)[0], scoring.shifts(templates))
    by_score = [ids[i] for i in np.argsort(-scores)[:5]]
    assert by_score != [ids[i] for i in np.argsort(-cosines)[:5]]  # the case tells the two orders apart
    found = gallery.search(probe, top_k=5)
    assert [c.identity_id for c in found] == by_score
    assert [c.score for c in found] == pytest.approx(sorted(scores, reverse=True)[:5], abs=1e-5)
    assert [c.similarity for c in found] == pytest.approx([cosines[ids.index(c.identity_id)] for c in found], abs=1e-5)
    cut = float(np.sort(scores)[-4:-2].mean())  # between the 3rd and 4th best
    assert [c.identity_id for c in gallery.search(probe, 5, threshold=cut)] == by_score[:3]
    match = gallery.match_identity(by_score[0], probe)
    assert match is not None and match.score == pytest.approx(float(scores.max()), abs=1e-5)


def test_a_template_follows_enrolments_and_deletes(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    writer, follower = make_worker(), make_worker(NEVER)
    alice, alice_faces = _person(writer, "alice", faces[0][:1])
    writer.enrol(alice, [new_face(e) for e in faces[0][1:]])
    writer.remove_face(alice_faces[0], alice)
    follower.sync()
    rest = faces[0][1:].mean(axis=0) / np.linalg.norm(faces[0][1:].mean(axis=0))
    for worker in (writer, follower):
        (hit,) = worker.search(centres[0], 1)
        assert hit.faces == len(faces[0]) - 1 and hit.similarity == pytest.approx(float(rest @ centres[0]), abs=1e-5)
        assert worker._index.search(rest, 1)[0][0][0] == pytest.approx(1.0, abs=1e-5)  # the index holds the template


def test_enrolment_reports_duplicates_and_checks_the_dimension(make_worker: MakeWorker, people) -> None:
    _, faces = people
    gallery = make_worker()
    identity_id, face_ids = _person(gallery, "A", faces[0])
    again = gallery.enrol(identity_id, [new_face(faces[0][1])])
    assert again[0].duplicate and again[0].face_id == face_ids[1] and len(gallery) == 3
    with pytest.raises(ValueError, match="expects 32"):
        gallery.enrol(identity_id, [new_face(np.ones(DIM + 1))])
    with pytest.raises(FaceverError) as raised:
        gallery.enrol(identity_id + 100, [new_face(faces[1][0])])
    assert raised.value.code is ErrorCode.not_found


def test_two_workers_see_each_others_enrolments_and_deletes(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    first, second = make_worker(), make_worker()
    alice, alice_faces = _person(first, "alice", faces[0])
    assert [r.identity_id for r in second.search(centres[0], 1)] == [alice]  # search synced
    bob, _ = _person(second, "bob", faces[1])
    assert first.search(centres[1], 1)[0].identity_id == bob
    second.remove_face(alice_faces[0], alice)
    first.sync()
    assert len(first) == len(second) == 5
    first.remove_identity(bob)
    assert [r.identity_id for r in second.search(centres[1], 5)] == [alice]
    assert len(second) == 2 and second.last_seq == first.last_seq


def test_a_delete_is_visible_on_the_serving_worker_before_it_returns(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    serving, other = make_worker(NEVER), make_worker(NEVER)
    alice, alice_faces = _person(serving, "alice", faces[0])
    other.sync()
    serving.remove_face(alice_faces[0])
    assert len(serving) == 2
    assert alice_faces[0] not in {r.face_id for r in serving.search(faces[0][0], 5)}
    # the other worker's index still holds the face until it syncs, but search checks SQL
    assert len(other) == 3
    assert alice_faces[0] not in {r.face_id for r in other.search(faces[0][0], 5)}
    serving.remove_identity(alice)
    assert serving.search(centres[0], 5) == [] and len(serving) == 0
    assert other.search(centres[0], 5) == []
    other.sync()
    assert len(other) == 0


def test_search_syncs_only_when_the_interval_has_passed(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    writer, lazy, eager = make_worker(), make_worker(NEVER), make_worker(0.0)
    _person(writer, "alice", faces[0])
    assert lazy.search(centres[0], 1) == [] and eager.search(centres[0], 1) != []
    assert lazy.sync() == 3 and lazy.search(centres[0], 1) != []


def test_rebuild_equals_incremental_state(make_worker: MakeWorker) -> None:
    rng = np.random.default_rng(7)
    writer, follower = make_worker(), make_worker(NEVER)
    centres, faces = clusters(rng, 8, 4, DIM)
    people = [_person(writer, f"p{i}", faces[i]) for i in range(8)]
    follower.sync()
    writer.remove_identity(people[3][0])
    for _, face_ids in people[5:]:
        writer.remove_face(face_ids[0])
    writer.enrol(people[0][0], [new_face(unit(rng.normal(size=DIM)))])
    follower.sync()
    fresh = make_worker(NEVER)
    assert len(writer) == len(follower) == len(fresh) == 8 * 4 - 4 - 3 + 1
    for query in centres:
        expected = writer.search(query, 20)
        assert follower.search(query, 20) == expected == fresh.search(query, 20)


def test_other_embedders_faces_stay_out_of_the_index(make_worker: MakeWorker, people) -> None:
    centres, faces = people
    ours, theirs = make_worker(), make_worker(embedder="other-model", dim=16)
    identity_id, _ = _person(ours, "alice", faces[0])
    theirs.enrol(identity_id, [new_face(unit(np.ones(16)))])
    ours.rebuild()
    theirs.sync()
    assert len(ours) == 3 and len(theirs) == 1
    assert ours.match_identity(identity_id, centres[0]) is not None


@pytest.mark.parametrize(
    "kind, params, trained",
    [
        ("ivf", {"nlist": 2}, "ivf"),
        ("sq8", {"min_train": 50}, "sq8"),
        ("hnsw", {}, "hnsw"),
        ("hnsw-pca", {"dims": 8, "min_train": 50}, "hnsw-pca"),
    ],
)
def test_index_kinds_rebuild_themselves_when_needed(
    make_worker: MakeWorker, kind: str, params: dict, trained: str
) -> None:
    centres, faces = clusters(np.random.default_rng(3), 100, 2, DIM)
    gallery = make_worker(kind=kind, params=params)
    people = [_person(gallery, f"p{i}", faces[i]) for i in range(100)]
    assert gallery.index_kind == trained  # 100 templates: enough to train, so the gallery rebuilt
    for identity_id, _ in people[:21]:  # 21% removed: HNSW rebuilds to drop its tombstones
        gallery.remove_identity(identity_id)
    assert len(gallery) == 158 and gallery.identities == 79 and gallery._index.ntotal == 79
    for i in range(21, 100):
        assert gallery.search(centres[i], 1)[0].identity_id == people[i][0]


def test_index_threads_apply_on_the_thread_that_searches(make_worker: MakeWorker, people) -> None:
    """OpenMP thread counts are per thread, and requests are served on pool threads, not the one that built
    the gallery: the setting must follow the search."""
    centres, faces = people
    gallery = make_worker(threads=1)
    identity_id, _ = _person(gallery, "p0", faces[0])
    seen: list[int] = []

    def search_elsewhere() -> None:
        assert gallery.search(centres[0], 1)[0].identity_id == identity_id
        seen.append(faiss.omp_get_max_threads())

    with ThreadPoolExecutor(1) as pool:
        pool.submit(search_elsewhere).result()
    assert seen == [1]


def test_a_rebuild_can_build_on_more_threads_than_it_searches_on(make_worker: MakeWorker, people,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The start-up build may use every core; the searches after it stay on the configured count."""
    centres, faces = people
    gallery = make_worker(kind="hnsw", threads=1)
    identity_id, _ = _person(gallery, "p0", faces[0])
    pinned: list[int] = []
    real_set = faiss.omp_set_num_threads
    monkeypatch.setattr(faiss, "omp_set_num_threads", lambda n: (pinned.append(n), real_set(n)))
    gallery.rebuild(build_threads=2)
    assert pinned and pinned[0] == 2  # the graph was built on 2 threads
    pinned.clear()
    assert gallery.search(centres[0], 1)[0].identity_id == identity_id
    assert set(pinned) == {1} and faiss.omp_get_max_threads() == 1


def test_concurrent_writers_converge(make_worker: MakeWorker) -> None:
    """Writers on two workers at once: the change log commits in order, so nobody misses an event."""
    rng = np.random.default_rng(11)
    workers = [make_worker(NEVER), make_worker(NEVER)]
    vectors = unit(rng.normal(size=(4, 8, DIM)))

    def write(thread: int) -> None:
        gallery = workers[thread % 2]
        identity_id, face_ids = _person(gallery, f"t{thread}", vectors[thread][:4])
        for vector in vectors[thread][4:]:
            gallery.enrol(identity_id, [new_face(vector)])
        gallery.remove_face(face_ids[0])

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(write, thread) for thread in range(4)]:
            future.result()  # re-raises a writer's error
    for worker in workers:
        worker.sync()
    with workers[0].session_factory() as session:
        in_sql = set(repository.load_embeddings(session, EMBEDDER, DIM)[0].tolist())
    assert len(in_sql) == 4 * 7 and len(workers[0]) == len(workers[1]) == 28
    for query in vectors.reshape(-1, DIM):
        assert workers[0].search(query, 3) == workers[1].search(query, 3)
