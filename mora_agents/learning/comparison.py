"""What fine-tuning changed: the same prompts and seeds generated without and with a run's adapters, both evaluated
with the task's metrics (``mora eval``), averaged per metric."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from mora_agents.errors import MoraError


def compare_generation(
    prompts: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    after: str | os.PathLike,
    before: str | os.PathLike | None = None,
    profile: str = "tiny",
    sop: str = "text_to_video",
    seed: int = 0,
    duration: float | None = None,
    llm: str | None = None,
    metrics: Sequence[str] | None = None,
    metrics_profile: str = "real",
    log: Callable[[str], None] | None = None,
) -> dict:
    """Generate every prompt twice (adapters ``before``, default none, and ``after``) with the same seeds, evaluate.

    Args:
        prompts: the requests (for example the training data's seed prompts).
        out_dir: where the runs go (``before/`` and ``after/``).
        after: the trained run (or its adapters folder).
        before: adapters to compare against; ``None``: the profile's models as they are.
        metrics: metric names; ``None``: the task's (missing metric models are reported, not fatal).

    Returns:
        `dict`: ``{"prompts", "metrics_profile", "before": {metric: mean}, "after": {...}, "runs": {...}}``; a
        metric without any value on one side has ``None`` there.
    """
    from mora_agents.evaluation.evaluate import evaluate_run
    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import StudioConfig, run_task
    from mora_tools.loading.memory import ModelMemory
    from mora_tools.loading.profiles import load_profile

    if not prompts:
        raise MoraError("nothing to compare: no prompts")
    say = log or (lambda line: None)
    spec = find_sop(sop)
    out = Path(out_dir)
    result: dict = {"prompts": list(prompts), "metrics_profile": metrics_profile, "runs": {}}
    for side, adapters in (("before", before), ("after", after)):
        config = StudioConfig(profile=profile, llm=llm, review="auto", adapters=str(adapters) if adapters else None)
        memory = ModelMemory.for_profile(load_profile(profile), "keep")
        values: dict[str, list[float]] = {}
        runs = []
        try:
            for index, prompt in enumerate(prompts):
                inputs: dict[str, str | float] = {"prompt": prompt}
                if duration is not None:
                    inputs["duration"] = duration
                request = VideoRequest(task=spec.name, inputs=inputs, seed=seed + index)
                say(f"{side}: generating {index + 1}/{len(prompts)}")
                workspace, _ = run_task(spec, request, out / side, config, memory=memory)
                record = evaluate_run(workspace.root, metrics=metrics, metrics_profile=metrics_profile)
                runs.append(str(workspace.root))
                for name, metric in record.metrics.items():
                    if metric.value is not None:
                        values.setdefault(name, []).append(metric.value)
                    else:
                        values.setdefault(name, [])
        finally:
            memory.release_all()
        result[side] = {name: (sum(v) / len(v) if v else None) for name, v in values.items()}
        result["runs"][side] = runs
    return result


__all__ = ["compare_generation"]
