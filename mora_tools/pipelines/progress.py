"""One progress sink for every pipeline call, fed by diffusers' ``callback_on_step_end``.

The CLI renders a sink as rich progress bars; tests and scripts use :class:`NullProgress`. A sink may
ask to cancel: :meth:`StepCallback.__call__` then raises, which stops any diffusers pipeline at the
next step (SVD has no ``interrupt`` flag, raising works everywhere).
"""

from __future__ import annotations

import threading
from typing import Any, Protocol


class ProgressSink(Protocol):
    """Receives stage and step events; implementations must be cheap (called once per denoising step)."""

    def start(self, stage: str, total: int, description: str = "") -> None: ...

    def advance(self, stage: str, steps: int = 1) -> None: ...

    def finish(self, stage: str) -> None: ...


class NullProgress:
    """A sink that shows nothing."""

    def start(self, stage: str, total: int, description: str = "") -> None:
        pass

    def advance(self, stage: str, steps: int = 1) -> None:
        pass

    def finish(self, stage: str) -> None:
        pass


class CancelToken:
    """Set from any thread (e.g. a Ctrl-C handler); checked at every denoising step."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class StageCancelled(Exception):
    """Raised inside a pipeline callback to stop it; the agent turns it into a user-facing error."""


class StepCallback:
    """A ``callback_on_step_end`` that advances ``sink`` and honours ``cancel``."""

    def __init__(self, sink: ProgressSink, stage: str, cancel: CancelToken | None = None) -> None:
        self.sink = sink
        self.stage = stage
        self.cancel = cancel
        self.steps = 0

    def __call__(self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict) -> dict:
        self.steps += 1
        self.sink.advance(self.stage)
        if self.cancel is not None and self.cancel.cancelled:
            raise StageCancelled(self.stage)
        return callback_kwargs
