"""The job store's SQLite file: opened with WAL journaling and ``synchronous=FULL`` (see
:mod:`mora_agents.services.store`), its tables made or checked against :data:`SCHEMA_VERSION`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from mora_agents.errors import MoraError

# Bumped when the tables change; a store written by a newer mora is refused rather than misread.
SCHEMA_VERSION = 2
"""2 added ``session_events`` (a schema-1 store gains the table when it is opened)."""

_SCHEMA = (
    # seq is the insertion order: AUTOINCREMENT never reuses a deleted job's number, so the order stays total even
    # after deletes. The record column holds the whole JobRecord as JSON; the other columns copy the fields that
    # queries filter and sort on.
    """CREATE TABLE IF NOT EXISTS jobs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        record TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (created_at, seq)",
    "CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq)",
    """CREATE TABLE IF NOT EXISTS events (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (job_id, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS reviews (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        stage TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        request TEXT NOT NULL,
        decision TEXT,
        created_at INTEGER NOT NULL,
        decided_at INTEGER
    )""",
    "CREATE INDEX IF NOT EXISTS reviews_by_job ON reviews (job_id, id)",
    # A chat session's stream: its turns and every event of the jobs that ran them, in one order. Not tied to
    # a job row: a session outlives its jobs (one deleted job leaves the rest of the story).
    """CREATE TABLE IF NOT EXISTS session_events (
        session_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        event TEXT NOT NULL,
        PRIMARY KEY (session_id, seq)
    ) WITHOUT ROWID""",
)


def open_store_file(path: Path) -> sqlite3.Connection:
    """The connection to the store at ``path``, creating its parent folder and its tables.

    Raises:
        MoraError: the file cannot be opened, is not a job store, was written by a newer mora, or its file system
            cannot do WAL.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MoraError(f"cannot create the folder of the job store {path}: {error}") from error
    try:
        # isolation_level=None: no implicit transactions; every write opens its own BEGIN IMMEDIATE below.
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as error:
        raise MoraError(f"cannot open the job store {path}: {error}") from error
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise MoraError(f"the job store {path} cannot use WAL journaling (got {mode!r}); put it on a local disk")
        # FULL, not NORMAL: NORMAL can lose the last commits on power loss, FULL fsyncs the log on every commit.
        conn.execute("PRAGMA synchronous = FULL")
        # Off by default in SQLite and set per connection; delete() relies on ON DELETE CASCADE.
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise MoraError(f"the job store {path} was written by a newer mora (schema {version}); upgrade mora")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except MoraError:
        conn.close()
        raise
    except sqlite3.Error as error:
        conn.close()
        raise MoraError(f"cannot open the job store {path}: {error}") from error
    return conn


__all__ = ["SCHEMA_VERSION", "open_store_file"]
