"""The job store of a server: jobs, their events and their human reviews in one SQLite file.

SQLite is the source of truth: the HTTP APIs answer from it and the worker takes its next job from it, so a server
killed with ``kill -9`` comes back with every committed job intact. That rests on three choices:

* WAL journaling with ``synchronous=FULL``: a commit returns only once its frames are fsynced to the write-ahead log,
  and a write cut short leaves an uncommitted tail that SQLite discards on the next open; nothing half-written
  is ever read back.
* Every write is one transaction, opened with ``BEGIN IMMEDIATE`` so that a read-modify-write (``update``,
  ``add_event``, ``decide``) holds the write lock from its first read and cannot interleave with another writer.
* Records are stored as the pydantic models' JSON and validated on the way in and out, so a row that reads back is a
  valid :class:`JobRecord` or :class:`ReviewRecord`.

One connection serves all threads (``check_same_thread=False``) behind a :class:`threading.Lock`: the server's
request handlers and its worker share the store, and a single connection keeps writes strictly ordered.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import ValidationError

from mora_agents.errors import MoraError
from mora_agents.messages import ReviewDecision, ReviewRequest
from mora_agents.services.records import JobRecord, ReviewRecord
from mora_agents.services.store_file import open_store_file


def _invalid(what: str, error: ValidationError) -> MoraError:
    # A pydantic error lists every problem over several lines; the user gets the first one as one sentence.
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return MoraError(f"{what}: {where} is invalid ({first['msg']})")


class JobStore:
    """Jobs, their events and their reviews in one SQLite file that survives ``kill -9`` of the server."""

    def __init__(self, path: str | os.PathLike) -> None:
        """Open (or create) the store at ``path``, creating its parent folder and its tables.

        Raises:
            MoraError: the file cannot be opened, is not a job store, or its file system cannot do WAL.
        """
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = open_store_file(self.path)

    def close(self) -> None:
        """Close the store; later calls raise :class:`MoraError`. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        # One transaction per call: committed on success, rolled back on any exception (`with conn`). Reads that
        # take several statements use a deferred BEGIN so that they see one snapshot.
        with self._lock:
            if self._conn is None:
                raise MoraError(f"the job store {self.path} is closed")
            conn = self._conn
            try:
                with conn:
                    conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                    yield conn
            except sqlite3.Error as error:
                raise MoraError(f"the job store {self.path} failed: {error}") from error

    # -- jobs ------------------------------------------------------------------------------------------------------

    def add(self, job: JobRecord) -> JobRecord:
        """Store a new job and return it as stored.

        Raises:
            MoraError: a job with this id exists already.
        """
        # Round-trip through JSON: what is stored is exactly what get() will read back, and a record made with
        # model_construct() (unvalidated) is caught here rather than on a later read.
        record = job.model_dump_json()
        try:
            stored = JobRecord.model_validate_json(record)
        except ValidationError as error:
            raise _invalid(f"job {job.id}", error) from error
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (stored.id,)).fetchone() is not None:
                raise MoraError(f"job {stored.id} exists already; choose another id")
            conn.execute(
                "INSERT INTO jobs (id, kind, status, created_at, record) VALUES (?, ?, ?, ?, ?)",
                (stored.id, stored.kind, stored.status, stored.created_at, record),
            )
        return stored

    def get(self, job_id: str) -> JobRecord | None:
        """The job with this id, or ``None``."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else JobRecord.model_validate_json(row[0])

    def update(self, job_id: str, **fields: object) -> JobRecord:
        """Change some fields of a job and return the job as now stored.

        Raises:
            MoraError: the job does not exist, a field is not a :class:`JobRecord` field (or is ``id``), or a value
                is invalid.
        """
        for name in fields:
            if name == "id":
                raise MoraError(f"job {job_id}: a job's id cannot be changed")
            if name not in JobRecord.model_fields:
                known = ", ".join(n for n in JobRecord.model_fields if n != "id")
                raise MoraError(f"job {job_id}: '{name}' is not a job field (fields: {known})")
        with self._transaction() as conn:
            row = conn.execute("SELECT record FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise MoraError(f"there is no job {job_id} to update")
            # model_copy(update=...) would skip validation; rebuild the record so a bad status or progress is refused.
            data = JobRecord.model_validate_json(row[0]).model_dump()
            data.update(fields)
            try:
                updated = JobRecord.model_validate(data)
            except ValidationError as error:
                raise _invalid(f"job {job_id}", error) from error
            conn.execute(
                "UPDATE jobs SET kind = ?, status = ?, created_at = ?, record = ? WHERE id = ?",
                (updated.kind, updated.status, updated.created_at, updated.model_dump_json(), job_id),
            )
        return updated

    def list(
        self,
        *,
        kind: str | None = None,
        after: str | None = None,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> tuple[list[JobRecord], bool]:
        """One page of jobs ordered by (``created_at``, insertion order), and whether more follow.

        Args:
            kind: only jobs of this kind (``video`` or ``job``); all when ``None``.
            after: a job id (the last of the previous page): the page holds the jobs strictly after it in this order.
            limit: the page size, clamped to 1..100.
            order: ``asc`` (oldest first) or ``desc`` (newest first).

        Raises:
            MoraError: ``after`` names no job, or ``order`` is neither ``asc`` nor ``desc``.
        """
        if order not in ("asc", "desc"):
            raise MoraError(f"order must be 'asc' or 'desc', got {order!r}")
        limit = max(1, min(100, int(limit)))
        # Only fixed SQL fragments are formatted in below; every value travels as a parameter.
        cmp, direction = (">", "ASC") if order == "asc" else ("<", "DESC")
        where: list[str] = []
        params: list[object] = []
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        with self._transaction(write=False) as conn:
            if after is not None:
                cursor = conn.execute("SELECT created_at, seq FROM jobs WHERE id = ?", (after,)).fetchone()
                if cursor is None:
                    raise MoraError(f"there is no job {after} to list after; pass the last id of a previous page")
                where.append(f"(created_at {cmp} ? OR (created_at = ? AND seq {cmp} ?))")
                params += [cursor[0], cursor[0], cursor[1]]
            clause = f"WHERE {' AND '.join(where)}" if where else ""
            # One row more than the page tells whether another page follows, without a second query.
            rows = conn.execute(
                f"SELECT record FROM jobs {clause} ORDER BY created_at {direction}, seq {direction} LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
        page = [JobRecord.model_validate_json(row[0]) for row in rows[:limit]]
        return page, len(rows) > limit

    def session_jobs(self, session_id: str) -> list[JobRecord]:
        """The jobs that ran a chat session's turns (``session`` is ``"<session id>#<turn>"``), oldest first."""
        with self._transaction(write=False) as conn:
            prefix = f"{session_id}#"
            rows = conn.execute(
                "SELECT record FROM jobs WHERE substr(json_extract(record, '$.session'), 1, ?) = ? ORDER BY seq",
                (len(prefix), prefix),
            ).fetchall()
        return [JobRecord.model_validate_json(row[0]) for row in rows]

    def delete(self, job_id: str) -> bool:
        """Remove a job with its events and reviews; ``False`` if there was no such job."""
        with self._transaction() as conn:
            return conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

    def next_queued(self) -> JobRecord | None:
        """The oldest queued job (by insertion order), or ``None`` when nothing waits."""
        with self._transaction(write=False) as conn:
            row = conn.execute("SELECT record FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else JobRecord.model_validate_json(row[0])

    def unfinished(self) -> list[JobRecord]:
        """The jobs a killed server left ``running`` or ``awaiting_review``, oldest (by insertion order) first."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT record FROM jobs WHERE status IN ('running', 'awaiting_review') ORDER BY seq"
            ).fetchall()
        return [JobRecord.model_validate_json(row[0]) for row in rows]

    # -- events ----------------------------------------------------------------------------------------------------

    def add_event(self, job_id: str, event_json: str) -> int:
        """Append one event (a JSON document) to a job's stream and return its sequence number (1, 2, ... per job).

        Raises:
            MoraError: the job does not exist, or ``event_json`` is not JSON.
        """
        try:
            json.loads(event_json)
        except ValueError as error:
            # Clients replay events verbatim (server-sent events); refuse garbage before it is stored for good.
            raise MoraError(f"job {job_id}: the event is not valid JSON ({error})") from error
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise MoraError(f"there is no job {job_id} to add an event to")
            # Safe under BEGIN IMMEDIATE: no other writer can take the same number between this read and the insert.
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE job_id = ?", (job_id,)).fetchone()[0]
            conn.execute("INSERT INTO events (job_id, seq, event) VALUES (?, ?, ?)", (job_id, seq, event_json))
        return int(seq)

    def events(self, job_id: str, after: int = 0) -> list[tuple[int, str]]:
        """A job's events with a sequence number above ``after``, in order, as ``(seq, event_json)``."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT seq, event FROM events WHERE job_id = ? AND seq > ? ORDER BY seq", (job_id, after)
            ).fetchall()
        return [(int(seq), event) for seq, event in rows]

    def add_session_event(self, session_id: str, event_json: str) -> int:
        """Append one event (a JSON document) to a chat session's stream; its sequence number (1, 2, ...).

        Raises:
            MoraError: ``event_json`` is not JSON.
        """
        try:
            json.loads(event_json)
        except ValueError as error:
            raise MoraError(f"session {session_id}: the event is not valid JSON ({error})") from error
        with self._transaction() as conn:
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM session_events WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO session_events (session_id, seq, event) VALUES (?, ?, ?)", (session_id, seq, event_json)
            )
        return int(seq)

    def session_events(self, session_id: str, after: int = 0) -> list[tuple[int, str]]:
        """A session's events with a sequence number above ``after``, in order, as ``(seq, event_json)``."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT seq, event FROM session_events WHERE session_id = ? AND seq > ? ORDER BY seq",
                (session_id, after),
            ).fetchall()
        return [(int(seq), event) for seq, event in rows]

    # -- reviews ---------------------------------------------------------------------------------------------------

    def open_review(self, job_id: str, request: ReviewRequest) -> ReviewRecord:
        """Open a pending review for a job, replacing one that waits undecided (a job waits on one review at a time).

        Raises:
            MoraError: the job does not exist.
        """
        record = ReviewRecord(
            job_id=job_id,
            stage=request.stage,
            iteration=request.iteration,
            request=request,
            created_at=int(time.time()),
        )
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                raise MoraError(f"there is no job {job_id} to open a review for")
            conn.execute("DELETE FROM reviews WHERE job_id = ? AND decision IS NULL", (job_id,))
            conn.execute(
                "INSERT INTO reviews (job_id, stage, iteration, request, created_at) VALUES (?, ?, ?, ?, ?)",
                (job_id, record.stage, record.iteration, request.model_dump_json(), record.created_at),
            )
        return record

    def pending_review(self, job_id: str) -> ReviewRecord | None:
        """The review that waits for a decision on this job, or ``None``."""
        with self._transaction(write=False) as conn:
            row = conn.execute(
                "SELECT job_id, stage, iteration, request, decision, created_at, decided_at FROM reviews"
                " WHERE job_id = ? AND decision IS NULL ORDER BY id DESC LIMIT 1",
                (job_id,),
            ).fetchone()
        return None if row is None else self._review(row)

    def decide(self, job_id: str, decision: ReviewDecision) -> ReviewRecord:
        """Record the decision on a job's pending review and return the decided review.

        Raises:
            MoraError: the job has no review waiting.
        """
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id FROM reviews WHERE job_id = ? AND decision IS NULL ORDER BY id DESC LIMIT 1", (job_id,)
            ).fetchone()
            if row is None:
                raise MoraError(f"job {job_id} has no review waiting")
            conn.execute(
                "UPDATE reviews SET decision = ?, decided_at = ? WHERE id = ?",
                (decision.model_dump_json(), int(time.time()), row[0]),
            )
            decided = conn.execute(
                "SELECT job_id, stage, iteration, request, decision, created_at, decided_at FROM reviews WHERE id = ?",
                (row[0],),
            ).fetchone()
        return self._review(decided)

    def reviews(self, job_id: str) -> list[ReviewRecord]:
        """Every review of a job, decided or not, oldest first."""
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT job_id, stage, iteration, request, decision, created_at, decided_at FROM reviews"
                " WHERE job_id = ? ORDER BY id",
                (job_id,),
            ).fetchall()
        return [self._review(row) for row in rows]

    @staticmethod
    def _review(row: tuple) -> ReviewRecord:
        job_id, stage, iteration, request, decision, created_at, decided_at = row
        return ReviewRecord(
            job_id=job_id,
            stage=stage,
            iteration=iteration,
            request=ReviewRequest.model_validate_json(request),
            decision=None if decision is None else ReviewDecision.model_validate_json(decision),
            created_at=created_at,
            decided_at=decided_at,
        )
