"""The job store of ``mora serve``: real SQLite files, real threads, and a real ``kill -9``."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from mora_agents.errors import MoraError
from mora_agents.messages import ImageArtifact, ReviewDecision, ReviewRequest, VideoRequest
from mora_agents.services.records import FINISHED, JobRecord
from mora_agents.services.store import JobStore

ROOT = Path(__file__).resolve().parents[1]


def _job(job_id: str, created_at: int = 1_700_000_000, **fields) -> JobRecord:
    request = VideoRequest(task="text_to_video", inputs={"prompt": f"a corgi for {job_id}", "duration": 4}, seed=7)
    return JobRecord(id=job_id, sop="text_to_video", request=request, created_at=created_at, **fields)


def _review_request(stage: str = "image", iteration: int = 1) -> ReviewRequest:
    image = ImageArtifact(
        path="runs/r1/image.png", sha256="a" * 64, model_id="tiny/sd", seed=3, seconds=0.5, width=64, height=64
    )
    return ReviewRequest(stage=stage, iteration=iteration, max_iterations=3, artifact=image, request="a corgi")


@pytest.fixture
def store(tmp_path: Path):
    with JobStore(tmp_path / "db" / "jobs.sqlite") as opened:
        yield opened


def test_add_get_update_round_trip(store: JobStore, tmp_path: Path):
    job = _job("video_" + "0" * 32, kind="video", model="sora-2", prompt="a corgi", size="1280x720")
    assert store.add(job) == job
    assert store.get(job.id) == job
    assert store.get(job.id).request == job.request
    assert store.get("video_missing") is None

    updated = store.update(job.id, status="completed", progress=100, completed_at=1_700_000_050, run_dir="runs/r1")
    assert (updated.status, updated.progress, updated.completed_at, updated.run_dir) == (
        "completed",
        100,
        1_700_000_050,
        "runs/r1",
    )
    assert updated.status in FINISHED
    assert store.get(job.id) == updated
    assert updated.request == job.request  # untouched fields survive the update

    # Another connection (another process after a restart) reads the same record.
    store.close()
    with JobStore(tmp_path / "db" / "jobs.sqlite") as again:
        assert again.get(job.id) == updated


def test_add_refuses_an_existing_id(store: JobStore):
    store.add(_job("job_1"))
    with pytest.raises(MoraError, match="job_1 exists already"):
        store.add(_job("job_1", prompt="another"))
    assert store.get("job_1").prompt == ""


def test_update_refuses_unknown_fields_jobs_and_bad_values(store: JobStore):
    store.add(_job("job_1"))
    with pytest.raises(MoraError, match="'colour' is not a job field") as raised:
        store.update("job_1", colour="red")
    assert "\n" not in str(raised.value)
    with pytest.raises(MoraError, match="no job job_404 to update"):
        store.update("job_404", status="running")
    with pytest.raises(MoraError, match="id cannot be changed"):
        store.update("job_1", id="job_2")
    with pytest.raises(MoraError, match="status is invalid"):
        store.update("job_1", status="exploded")
    with pytest.raises(MoraError, match="progress is invalid"):
        store.update("job_1", progress=101)
    assert store.get("job_1") == _job("job_1")  # nothing changed by the refused updates


def test_list_pages_in_both_orders_with_a_cursor(store: JobStore):
    # Equal created_at values are ordered by insertion; the ids are inserted out of created_at order on purpose.
    for job_id, created, kind in [
        ("job_a", 100, "job"),
        ("job_b", 300, "video"),
        ("job_c", 200, "job"),
        ("job_d", 200, "video"),
        ("job_e", 400, "job"),
    ]:
        store.add(_job(job_id, created_at=created, kind=kind))
    asc = ["job_a", "job_c", "job_d", "job_b", "job_e"]

    def ids(page: list[JobRecord]) -> list[str]:
        return [job.id for job in page]

    page, more = store.list(order="asc", limit=2)
    assert (ids(page), more) == (asc[:2], True)
    page, more = store.list(order="asc", limit=2, after=page[-1].id)
    assert (ids(page), more) == (asc[2:4], True)
    page, more = store.list(order="asc", limit=2, after=page[-1].id)
    assert (ids(page), more) == (asc[4:], False)

    page, more = store.list(limit=3)  # desc by default
    assert (ids(page), more) == (asc[::-1][:3], True)
    page, more = store.list(limit=3, after=page[-1].id)
    assert (ids(page), more) == (asc[::-1][3:], False)
    assert store.list(after="job_a") == ([], False)  # nothing is older than the oldest

    assert ids(store.list(kind="video", order="asc")[0]) == ["job_d", "job_b"]
    assert ids(store.list(kind="job", order="asc", after="job_c")[0]) == ["job_e"]

    with pytest.raises(MoraError, match="no job job_zz to list after"):
        store.list(after="job_zz")
    with pytest.raises(MoraError, match="order must be"):
        store.list(order="sideways")  # type: ignore[arg-type]


def test_list_clamps_the_limit(store: JobStore):
    for i in range(105):
        store.add(_job(f"job_{i:03d}", created_at=i))
    page, more = store.list(limit=0)
    assert (len(page), more) == (1, True)
    page, more = store.list(limit=1000, order="asc")
    assert (len(page), more) == (100, True)
    assert page[0].id == "job_000" and page[-1].id == "job_099"


def test_next_queued_and_unfinished(store: JobStore):
    assert store.next_queued() is None and store.unfinished() == []
    # Insertion order decides, not created_at: job_1 was queued first.
    store.add(_job("job_1", created_at=500))
    store.add(_job("job_2", created_at=100))
    store.add(_job("job_3", created_at=50))
    store.add(_job("job_4", created_at=10))
    assert store.next_queued().id == "job_1"

    store.update("job_1", status="running")
    assert store.next_queued().id == "job_2"
    store.update("job_2", status="awaiting_review")
    store.update("job_3", status="failed", error="out of memory")
    assert store.next_queued().id == "job_4"
    assert [job.id for job in store.unfinished()] == ["job_1", "job_2"]

    store.update("job_4", status="cancelled")
    assert store.next_queued() is None
    store.update("job_1", status="completed")
    assert [job.id for job in store.unfinished()] == ["job_2"]


def test_events_are_numbered_per_job(store: JobStore):
    store.add(_job("job_1"))
    store.add(_job("job_2"))
    assert [store.add_event("job_1", f'{{"n": {i}}}') for i in range(3)] == [1, 2, 3]
    assert store.add_event("job_2", '{"n": 0}') == 1
    assert store.add_event("job_1", '{"n": 3}') == 4

    assert store.events("job_1") == [(1, '{"n": 0}'), (2, '{"n": 1}'), (3, '{"n": 2}'), (4, '{"n": 3}')]
    assert store.events("job_1", after=2) == [(3, '{"n": 2}'), (4, '{"n": 3}')]
    assert store.events("job_1", after=4) == []
    assert store.events("job_2") == [(1, '{"n": 0}')]
    assert store.events("job_404") == []

    with pytest.raises(MoraError, match="no job job_404 to add an event to"):
        store.add_event("job_404", "{}")
    with pytest.raises(MoraError, match="not valid JSON"):
        store.add_event("job_1", '{"n": ')
    assert len(store.events("job_1")) == 4


def test_review_open_pending_decide(store: JobStore):
    store.add(_job("job_1"))
    assert store.pending_review("job_1") is None
    with pytest.raises(MoraError, match="job job_1 has no review waiting"):
        store.decide("job_1", ReviewDecision(action="accept"))

    first = store.open_review("job_1", _review_request(iteration=1))
    # A second open before any decision replaces the undecided one.
    second = store.open_review("job_1", _review_request(iteration=2))
    pending = store.pending_review("job_1")
    assert pending == second and pending != first
    assert (pending.stage, pending.iteration, pending.decision, pending.decided_at) == ("image", 2, None, None)
    assert pending.request.artifact == _review_request().artifact

    decision = ReviewDecision(action="edit", instruction="warmer light", by="console")
    decided = store.decide("job_1", decision)
    assert decided.decision == decision and decided.decided_at is not None
    assert store.pending_review("job_1") is None
    with pytest.raises(MoraError, match="job job_1 has no review waiting"):
        store.decide("job_1", ReviewDecision(action="accept"))

    # A decided review is history: a new review is added next to it, not over it.
    store.open_review("job_1", _review_request(stage="video", iteration=1))
    store.decide("job_1", ReviewDecision(action="accept"))
    history = store.reviews("job_1")
    assert [(r.stage, r.iteration, str(r.decision)) for r in history] == [
        ("image", 2, "edit warmer light"),
        ("video", 1, "accept"),
    ]
    with pytest.raises(MoraError, match="no job job_404 to open a review for"):
        store.open_review("job_404", _review_request())


def test_delete_cascades_to_events_and_reviews(store: JobStore):
    store.add(_job("job_1"))
    store.add(_job("job_2"))
    for job_id in ("job_1", "job_2"):
        store.add_event(job_id, '{"type": "progress"}')
        store.open_review(job_id, _review_request())
    store.decide("job_1", ReviewDecision(action="accept"))
    store.open_review("job_1", _review_request(iteration=2))

    assert store.delete("job_1") is True
    assert store.delete("job_1") is False
    assert store.get("job_1") is None
    assert store.events("job_1") == [] and store.reviews("job_1") == []
    assert store.pending_review("job_1") is None

    # Check the tables themselves through a second connection: no orphan rows left behind.
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("SELECT COUNT(*) FROM events WHERE job_id = 'job_1'").fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM reviews WHERE job_id = 'job_1'").fetchone()[0] == 0
        assert raw.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1
        assert raw.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == 1
    finally:
        raw.close()
    assert len(store.events("job_2")) == 1 and store.pending_review("job_2") is not None


def test_wal_mode_and_pragmas(store: JobStore):
    raw = sqlite3.connect(store.path)
    try:
        # WAL is a property of the file: any connection sees it.
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        raw.close()
    conn = store._conn
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


def test_closed_store_and_bad_files_raise_mora_errors(tmp_path: Path):
    store = JobStore(tmp_path / "jobs.sqlite")
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(MoraError, match="is closed"):
        store.get("job_1")

    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database, just some bytes" * 100)
    with pytest.raises(MoraError, match="cannot open the job store"):
        JobStore(garbage)


def _start(code: str, db: Path) -> tuple[subprocess.Popen, queue.Queue]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        # A thread reads the pipe so the test can wait for a line with a timeout instead of hanging on a dead child.
        for line in child.stdout:
            lines.put(line.strip())
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return child, lines


def _kill(child: subprocess.Popen) -> None:
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    child.stdout.close()
    child.stderr.close()


_ADD_JOB = """
    import sys, time
    from mora_agents.messages import VideoRequest
    from mora_agents.services.records import JobRecord
    from mora_agents.services.store import JobStore

    store = JobStore(sys.argv[1])

    def add(i):
        request = VideoRequest(inputs={"prompt": f"shot {i}", "duration": 4}, seed=i)
        store.add(JobRecord(id=f"job_{i:04d}", sop="text_to_video", request=request, created_at=1000 + i))
"""


def test_committed_jobs_survive_kill_9(tmp_path: Path):
    db = tmp_path / "jobs.sqlite"
    child, lines = _start(
        _ADD_JOB
        + """
    for i in range(50):
        add(i)
    print("ready", flush=True)
    time.sleep(600)
    """,
        db,
    )
    try:
        line = lines.get(timeout=120)
        assert line == "ready", f"the child did not get ready: {child.stderr.read() if line is None else line}"
        # The commits sit in the write-ahead log, not yet checkpointed into the database file: reopening must replay it.
        assert Path(f"{db}-wal").stat().st_size > 0
    finally:
        _kill(child)

    with JobStore(db) as store:
        jobs, more = store.list(order="asc", limit=100)
        assert not more
        assert [job.id for job in jobs] == [f"job_{i:04d}" for i in range(50)]
        for i, job in enumerate(jobs):
            assert JobRecord.model_validate_json(job.model_dump_json()) == job
            assert (job.request.inputs["prompt"], job.request.seed, job.created_at) == (f"shot {i}", i, 1000 + i)
            assert job.status == "queued"
        assert store.next_queued().id == "job_0000"


def test_kill_9_in_the_middle_of_writing_leaves_no_half_written_job(tmp_path: Path):
    db = tmp_path / "jobs.sqlite"
    child, lines = _start(
        _ADD_JOB
        + """
    i = 0
    while True:
        add(i)
        store.add_event(f"job_{i:04d}", '{"type": "queued"}')
        print(i, flush=True)
        i += 1
    """,
        db,
    )
    last = -1
    try:
        # Kill it while it writes flat out: somewhere inside a transaction, or between two.
        while last < 30:
            line = lines.get(timeout=120)
            assert line is not None, f"the child died: {child.stderr.read()}"
            last = int(line)
    finally:
        _kill(child)

    with JobStore(db) as store:
        jobs, more = store.list(order="asc", limit=100)
        while more:  # it may have written many more than it reported before the kill landed
            page, more = store.list(order="asc", limit=100, after=jobs[-1].id)
            jobs += page
        assert len(jobs) > last  # every job it reported is there
        assert [job.id for job in jobs] == [f"job_{i:04d}" for i in range(len(jobs))]
        for i, job in enumerate(jobs):
            assert job.request.inputs["prompt"] == f"shot {i}"
            events = store.events(job.id)
            # The last job may have been killed before its event; none may have more than one.
            assert events == [(1, '{"type": "queued"}')] or (i == len(jobs) - 1 and events == [])


def test_four_threads_add_and_update_concurrently(store: JobStore):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                job_id = f"job_{worker}_{i:02d}"
                store.add(_job(job_id, created_at=i))
                store.update(job_id, status="running", progress=50)
                assert store.add_event(job_id, '{"type": "started"}') == 1
                store.update(job_id, status="completed", progress=100, completed_at=i + 1)
        except BaseException as error:  # collected: an assertion in a thread would otherwise go unseen
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)

    jobs, more = store.list(limit=100)
    assert len(jobs) == 100 and not more
    assert {job.id for job in jobs} == {f"job_{w}_{i:02d}" for w in range(4) for i in range(25)}
    assert all(job.status == "completed" and job.progress == 100 for job in jobs)
    assert all(store.events(job.id) == [(1, '{"type": "started"}')] for job in jobs)


def test_session_jobs_are_the_jobs_of_that_session_only(store):
    for job_id, session in (("job_a", "session_ab#1"), ("job_b", "session_abc#1"), ("job_c", "session_ab#2"),
                            ("job_d", None)):  # fmt: skip
        store.add(_job(job_id, session=session))
    assert [job.id for job in store.session_jobs("session_ab")] == ["job_a", "job_c"]
    assert [job.id for job in store.session_jobs("session_abc")] == ["job_b"]
    assert store.session_jobs("session_zz") == []
