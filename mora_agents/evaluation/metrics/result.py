"""The value every metric returns: a number in a documented range, plus the method that produced it."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MetricResult(BaseModel):
    """One metric's outcome for one video (or one set of videos).

    ``value`` is ``None`` only together with a ``reason`` (for example "the video has a single frame"), so a
    report never shows a blank without saying why. ``method`` names what produced the number, so a reader can
    tell a classical-flow ``dynamic_degree`` from a RAFT one.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    """The metric's JSON key, e.g. ``"dynamic_degree"``."""
    value: float | None
    """The score, inside ``range``; ``None`` when it could not be computed (then ``reason`` says why)."""
    range: tuple[float, float]
    """``(lo, hi)``: the documented range of ``value``; ``math.inf`` for an unbounded end."""
    method: str
    """What produced the value, in words: the model or classical algorithm and the rule applied."""
    reason: str | None = None
    """Why ``value`` is ``None``; unset when there is a value."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Extra, metric-specific numbers (per-boundary lists, the binary variant of a score, sampling used)."""

    @model_validator(mode="after")
    def _check_value(self) -> MetricResult:
        lo, hi = self.range
        if self.value is None:
            if not self.reason:
                raise ValueError(f"metric `{self.name}` has no value and no reason")
            return self
        if math.isnan(self.value):
            raise ValueError(f"metric `{self.name}` is NaN; return None with a reason instead")
        # A small tolerance: float rounding may put a bounded score a hair outside its range.
        if not (lo - 1e-9 <= self.value <= hi + 1e-9):
            raise ValueError(f"metric `{self.name}` = {self.value} is outside its range [{lo}, {hi}]")
        return self

    @classmethod
    def unavailable(
        cls, name: str, range: tuple[float, float], method: str, reason: str, **details: Any
    ) -> MetricResult:
        """A result without a value, saying why (``details`` as keyword arguments)."""
        return cls(name=name, value=None, range=range, method=method, reason=reason, details=details)
