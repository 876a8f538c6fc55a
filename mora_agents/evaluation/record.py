"""The evaluation record: metric results as a manifest stores them (:class:`~mora_agents.workspace.EvaluationRecord`),
and writing one to a JSON file."""

from __future__ import annotations

import os
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.evaluation.metrics.result import MetricResult
from mora_agents.workspace import EvaluationRecord, MetricRecord, now_iso, write_text_atomic


def to_record(result: MetricResult) -> MetricRecord:
    """A :class:`MetricResult` as stored in a manifest (JSON has no infinity: an open range end is ``None``)."""
    lo, hi = result.range
    return MetricRecord(
        value=result.value,
        range=(None if lo == float("-inf") else lo, None if hi == float("inf") else hi),
        method=result.method,
        reason=result.reason,
        details=_json_safe(result.details),
    )


def _json_safe(value):
    # Details may hold numpy scalars or infinities; JSON takes neither.
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    return value


def make_record(
    results: dict[str, MetricResult], metrics_profile: str, video: str, task: str | None = None
) -> EvaluationRecord:
    """Bundle results as an :class:`EvaluationRecord` (stamped now)."""
    return EvaluationRecord(
        metrics_profile=metrics_profile,
        when=now_iso(),
        video=video,
        task=task,
        metrics={name: to_record(result) for name, result in results.items()},
    )


def write_json(record: EvaluationRecord, path: str | os.PathLike) -> None:
    """Write ``record`` to ``path`` atomically (the parent folder is created).

    Raises:
        MoraError: the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, record.model_dump_json(indent=2))
    except OSError as error:
        raise MoraError(f"cannot write {path}: {error.strerror or error}") from None


__all__ = ["make_record", "to_record", "write_json"]
