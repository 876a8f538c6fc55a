"""Chat sessions on the wire: the request bodies and the turn object of ``/mora/v1/sessions``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mora_agents.serve.jobs.protocol import JobObject, ReviewMode
from mora_agents.serve.protocol import Text

SSE_EVENT_NAMES = {"turn_planned": "turn", "input_added": "input", "job_event": "studio"}
"""The server-sent event name of each session event type (another type is sent under its own name)."""


class SessionCreate(BaseModel):
    """``POST /mora/v1/sessions``."""

    name: Text = Field(default="chat", min_length=1, max_length=80)


class TurnCreate(BaseModel):
    """``POST /mora/v1/sessions/{id}/turns``: what the person says."""

    text: Text = Field(
        min_length=1, max_length=4000, description="What the person says, e.g. 'make the kite one snowy'."
    )
    review: ReviewMode = "auto"


class TurnObject(BaseModel):
    """A turn as the director took it: its question, or what it understood and the job that runs it."""

    session: str
    turn: int
    status: str
    question: str | None = None
    candidates: list[int] = Field(default_factory=list)
    explanation: str | None = None
    job: JobObject | None = None


__all__ = ["SSE_EVENT_NAMES", "SessionCreate", "TurnCreate", "TurnObject"]
