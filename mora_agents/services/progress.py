"""How far a running job is, from its events."""

from __future__ import annotations

from mora_agents.messages import ArtifactReady, StepProgress, StudioEvent
from mora_agents.sop import SopSpec


class JobProgress:
    """0-99 while a job runs: finished stages plus the share of the current stage's steps."""

    def __init__(self, spec: SopSpec) -> None:
        """Progress through ``spec``'s stages."""
        self.stages = max(len(spec.steps), 1)
        self.done: set[str] = set()

    def update(self, event: StudioEvent) -> int | None:
        """The job's percent after ``event``; ``None`` when the event changes nothing."""
        if isinstance(event, ArtifactReady):
            self.done.add(event.stage)
        elif not isinstance(event, StepProgress) or not event.total:
            return None
        share = event.step / event.total if isinstance(event, StepProgress) else 0.0
        return min(99, int(100 * (len(self.done) + share) / self.stages))


__all__ = ["JobProgress"]
