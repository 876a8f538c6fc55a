"""What the page redraws, read through the services: the session picker, the conversation, the turn picker and the
stage card. Each returns Gradio updates, or ``gr.skip()`` when nothing changed since the last tick (its key)."""

from __future__ import annotations

import gradio as gr

from mora_agents.services.jobs import JobService
from mora_agents.services.sessions import SessionService
from mora_agents.web._shown import shown_file, shown_files
from mora_agents.web._snapshot import JobSnapshot, conversation_messages, job_snapshot

CARD_SIZE = 11
"""The stage card's components that a tick updates (:func:`card_updates`' length)."""


def session_choices(listed: list[dict], chosen: str | None):
    """The session picker: every session, ``chosen`` picked."""
    labels = [(f"{s['name']} · {_turns(s['turns'])} · {s['created'][:16]}", s["id"]) for s in listed]
    return gr.update(choices=labels, value=chosen)


def _turns(count: int) -> str:
    return f"{count} turn" if count == 1 else f"{count} turns"


def latest_job(sessions: SessionService, session_id: str | None) -> str | None:
    """The job of the session's latest turn, if any."""
    if not session_id:
        return None
    jobs = sessions.jobs(session_id)
    return jobs[max(jobs)].id if jobs else None


def conversation(sessions: SessionService, session_id: str | None, seen: str):
    """The conversation's messages and their key; ``gr.skip()`` when the key is ``seen``."""
    if not session_id:
        return gr.skip(), seen
    jobs = sessions.jobs(session_id)
    record = sessions.record(session_id)
    # Everything the messages are made from: a job re-run between two ticks changes no status, but marks results stale.
    key = repr(([(t.index, t.status) for t in record.turns], [(a.index, a.path, a.stale) for a in record.artifacts],
                [(n, j.status) for n, j in sorted(jobs.items())]))  # fmt: skip
    if key == seen:
        return gr.skip(), seen
    return conversation_messages(sessions, session_id, jobs), key


def turn_choices(sessions: SessionService, session_id: str | None, job_id: str | None):
    """The turn picker: one entry per turn's job, shown when the session has several and ``job_id`` is one."""
    jobs = sessions.jobs(session_id) if session_id else {}
    labels = [(f"turn {n}: {(j.request.explanation or j.sop)[:70]}", j.id) for n, j in sorted(jobs.items())]
    mine = job_id in {j.id for j in jobs.values()}  # a task form's job is no turn of the session
    return gr.update(choices=labels, value=job_id if mine else None, visible=mine and len(labels) > 1)


def next_stale(sessions: SessionService, session_id: str | None):
    """The job of the session's first stale result, if any."""
    return sessions.next_stale_job(session_id) if session_id else None


def card(jobs: JobService, job_id: str | None, seen: str, viewing: str | None = None):
    """The stage card's updates and their key; all ``gr.skip()`` when the key is ``seen``."""
    if not job_id or jobs.find(job_id) is None:
        return [gr.update(value="Nothing running."), *[gr.update(visible=False)] * (CARD_SIZE - 1)], ""
    snapshot = job_snapshot(jobs, job_id, viewing)
    key = snapshot.fingerprint()
    if key == seen:
        return [gr.skip()] * CARD_SIZE, seen
    return card_updates(snapshot), key


def card_updates(snapshot: JobSnapshot) -> list:
    """The card for ``snapshot``: status line, cancel, stage picker, title, image, video, earlier iterations,
    accept, regenerate, edit, downloads."""
    card, folder = snapshot.card, snapshot.folder
    waiting = bool(card and card.waiting)
    image = shown_file(card.path, folder) if card and card.kind == "image" else None
    video = shown_file(card.path, folder) if card and card.kind == "video" else None
    earlier = shown_files(card.earlier, folder) if card else []
    files = shown_files(snapshot.files, folder)
    pickable = snapshot.finished and len(snapshot.stages) > 1
    return [
        gr.update(value=snapshot.line, visible=True),
        gr.update(visible=not snapshot.finished),
        gr.update(choices=snapshot.stages, value=card.stage if card else None, visible=pickable),
        gr.update(value=card.title if card else "", visible=True),
        gr.update(value=image, visible=image is not None),
        gr.update(value=video, visible=video is not None),
        gr.update(value=earlier, visible=bool(earlier)),
        gr.update(visible=waiting),
        gr.update(visible=waiting or (snapshot.finished and card is not None)),  # a finished stage: make it again
        gr.update(visible=waiting and "edit" in card.allowed),
        gr.update(value=files or None, visible=snapshot.finished and bool(files)),
    ]


__all__ = ["card", "card_updates", "conversation", "latest_job", "next_stale", "session_choices", "turn_choices"]
