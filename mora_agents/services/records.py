"""What the job store keeps: a job's record, its reviews, where a job stands, and what text can be kept.

These are the service layer's data: the job queue and the store write them, the front ends read them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from mora_agents.errors import MoraError
from mora_agents.messages import ReviewDecision, ReviewRequest, VideoRequest

JobStatus = Literal["queued", "running", "awaiting_review", "completed", "failed", "cancelled"]
"""Where a job stands; ``queued`` -> ``running`` (<-> ``awaiting_review``) -> one of :data:`FINISHED`."""

FINISHED: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
"""The statuses a job never leaves."""


class JobRecord(BaseModel):
    """One job as the store keeps it: what was asked, where it stands, and where its run lives."""

    id: str = Field(min_length=1)
    """Chosen by the caller, e.g. ``"video_" + 32 hex chars`` or ``"job_" + ...``."""
    kind: Literal["video", "job"] = "job"
    """``video``: made through the OpenAI Videos API; ``job``: made through mora's own API."""
    sop: str
    """The task name, e.g. ``text_to_video``."""
    request: VideoRequest
    status: JobStatus = "queued"
    progress: int = Field(default=0, ge=0, le=100)
    """Percent done, 0-100."""
    created_at: int
    """Unix seconds."""
    completed_at: int | None = None
    error: str | None = None
    run_dir: str | None = None
    """The run's folder, relative to the workspace."""
    review: str = "auto"
    """``auto`` | ``human`` | ``judge``."""
    profile: str = "tiny"
    model: str = ""
    """The model name the client asked for, e.g. ``sora-2``."""
    prompt: str = ""
    seconds: str = "4"
    size: str = ""
    remixed_from: str | None = None
    session: str | None = None


class ReviewRecord(BaseModel):
    """One review of one job's stage: the request shown to the reviewer and, once given, the decision."""

    job_id: str
    stage: str
    iteration: int
    request: ReviewRequest
    decision: ReviewDecision | None = None
    created_at: int
    """Unix seconds."""
    decided_at: int | None = None
    """Unix seconds; ``None`` while the review waits."""


def storable_text(value: str, what: str = "text") -> str:
    """``value`` if it can be stored and shown: valid Unicode (encodes as UTF-8) with no NUL character.

    Raises:
        MoraError: a lone surrogate (``"\\ud800"``, which JSON's ``\\u`` escapes allow) or a NUL, by position.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise MoraError(f"{what} is not valid Unicode: a lone surrogate at character {error.start}") from None
    if "\x00" in value:
        raise MoraError(f"{what} holds a NUL character at character {value.index(chr(0))}")
    return value


__all__ = ["FINISHED", "JobRecord", "JobStatus", "ReviewRecord", "storable_text"]
