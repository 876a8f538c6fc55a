"""The errors the services raise, by what went wrong: a front end maps each type to its answer (an HTTP status),
never a message's text. Each is a :class:`~mora_agents.errors.MoraError`: one sentence for the user."""

from __future__ import annotations

from mora_agents.errors import MoraError, NotFoundError


class JobNotFound(NotFoundError):
    """No job has this id (or it is not a job of the kind asked for)."""


class VideoNotFound(NotFoundError):
    """No video (a job made through the Videos API) has this id."""


class SessionNotFound(NotFoundError):
    """No chat session of this server has this id."""


class Conflict(MoraError):
    """The request is valid, but what it names is not in a state for it."""


class VideoNotReady(Conflict):
    """A video asked for its content, or used as a source, before it completed."""


__all__ = ["Conflict", "JobNotFound", "SessionNotFound", "VideoNotFound", "VideoNotReady"]
