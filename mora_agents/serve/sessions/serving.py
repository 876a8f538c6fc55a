"""Chat sessions in the services' terms: each request becomes a
:class:`~mora_agents.services.sessions.SessionService` call, each result a session's JSON or a
:class:`~mora_agents.serve.sessions.protocol.TurnObject`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request

from mora_agents.messages import SessionArtifact
from mora_agents.serve.jobs.serving import job_object
from mora_agents.serve.protocol import last_event_id
from mora_agents.serve.sessions.protocol import SSE_EVENT_NAMES, SessionCreate, TurnCreate, TurnObject
from mora_agents.services.jobs import JobService
from mora_agents.services.sessions import SessionService


class SessionServing:
    """``/mora/v1/sessions`` over ``sessions``; a turn's job is shown as the job API shows it (``jobs``).

    Args:
        sessions: the server's session service.
        jobs: the server's job service.
    """

    def __init__(self, sessions: SessionService, jobs: JobService) -> None:
        self.sessions = sessions
        self.jobs = jobs

    def create(self, body: SessionCreate) -> dict:
        """A new session: its id and its (empty) record."""
        return self.get(self.sessions.create(body.name))

    def summaries(self) -> list[dict]:
        """The server's sessions, newest first."""
        return self.sessions.summaries()

    def get(self, session_id: str) -> dict:
        """The session's id, turns and artifacts."""
        return {"id": session_id, **self.sessions.record(session_id).model_dump(mode="json")}

    async def take_turn(self, session_id: str, body: TurnCreate) -> TurnObject:
        """The director's question, or what it understood and the job queued for it."""
        taken = await self.sessions.take_turn(session_id, body.text, body.review)
        turn = taken.turn
        if taken.job is None:
            return TurnObject(session=session_id, turn=turn.index, status="asked", question=turn.question.question,
                              candidates=turn.question.candidates)  # fmt: skip
        return TurnObject(session=session_id, turn=turn.index, status="queued", explanation=turn.request.explanation,
                          job=job_object(self.jobs.view_of(taken.job)))  # fmt: skip

    async def upload(self, session_id: str, data: bytes, kind: str, filename: str,
                     description: str) -> SessionArtifact:  # fmt: skip
        """The file becomes the session's next artifact."""
        return await self.sessions.add_upload(session_id, data, kind, filename, description)

    def events(self, session_id: str, request: Request) -> AsyncIterator[dict]:
        """The session's events as server-sent events, named by type; ``Last-Event-ID`` resumes.

        Raises:
            SessionNotFound: no such session (before the stream starts).
            MoraError: ``Last-Event-ID`` is not an event's id.
        """
        self.sessions.check_exists(session_id)
        after = last_event_id(request)

        async def stream() -> AsyncIterator[dict]:
            async for seq, data in self.sessions.events(session_id, after):
                kind = json.loads(data).get("type", "")
                yield {"id": str(seq), "event": SSE_EVENT_NAMES.get(kind, kind), "data": data}

        return stream()


__all__ = ["SessionServing"]
