"""mora's job API on the wire: the request bodies and the job object of ``/mora/v1/jobs``."""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from mora_agents.errors import MoraError
from mora_agents.messages import MAX_SEED, ReviewRequest, VideoRequest
from mora_agents.serve.protocol import Text
from mora_agents.services.records import storable_text

ReviewMode = Literal["auto", "human", "judge"]
"""Who reviews a job's stages: the studio (``auto``), a person over HTTP (``human``), the judge panel (``judge``)."""


class JobCreate(BaseModel):
    """``POST /mora/v1/jobs``: run any task."""

    task: Text = Field(max_length=200, description="The SOP's name, e.g. connect_videos, or a user SOP from --sop-dir.")
    inputs: dict[Text, Any] = Field(default_factory=dict)
    """The SOP's inputs by name: text (a prompt, an uploaded file's ``path``) or a number (``duration``)."""
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="The run's base seed, 0 to 2**63-1.")
    review: ReviewMode = "auto"
    """``human``: the job waits at each reviewed stage for ``POST /mora/v1/jobs/{id}/review``."""

    @field_validator("inputs")
    @classmethod
    def _text_or_number(cls, inputs: dict[str, Any]) -> dict[str, str | float | int]:
        # Not `str | float | int`: pydantic would store `true` as 1.0 and `"\ud800"` would fail the store later.
        for name, value in inputs.items():
            if isinstance(value, str):
                try:
                    storable_text(value, f"input '{name}'")
                except MoraError as error:
                    raise ValueError(str(error)) from None
            elif isinstance(value, bool) or not isinstance(value, int | float):
                shown = json.dumps(value)[:40]
                raise ValueError(f"input '{name}' is {shown}: each input is text or a number")
            elif not math.isfinite(value) or abs(value) > MAX_SEED:
                raise ValueError(f"input '{name}' is {value}: a number input must be finite and at most {MAX_SEED}")
        return inputs


class JobObject(BaseModel):
    """A job as the API shows it."""

    id: str
    task: str
    status: str
    progress: int
    review: str
    created_at: int
    completed_at: int | None
    error: str | None
    request: VideoRequest
    waiting_for: ReviewRequest | None = None
    """The review a person must decide now (status ``awaiting_review``)."""
    files: list[str] = Field(default_factory=list)
    """The run folder's result files (``video.mp4``, each stage's), for ``GET .../files/{path}``."""


class Decision(BaseModel):
    """``POST /mora/v1/jobs/{id}/review``: the decision on the review waiting."""

    action: Literal["accept", "regenerate", "edit"]
    instruction: Text | None = Field(default=None, max_length=2000)
    """What to change, for ``edit`` (required there, refused with the others)."""


class Rerun(BaseModel):
    """``POST /mora/v1/jobs/{id}/rerun``: which stage to make again."""

    stage: Text | None = Field(
        default=None, max_length=200, description="The stage to make again, e.g. first_frame; none: all."
    )
    review: ReviewMode | None = None


class UploadObject(BaseModel):
    """``POST /mora/v1/uploads``: the file saved, and the ``path`` a job's image or video input names it by."""

    path: str
    kind: str
    bytes: int


class JobDeleted(BaseModel):
    """``DELETE /mora/v1/jobs/{id}``."""

    id: str
    deleted: bool = True


__all__ = ["Decision", "JobCreate", "JobDeleted", "JobObject", "Rerun", "ReviewMode", "UploadObject"]
