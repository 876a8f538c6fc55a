"""Algorithm 1's outer loop: synthesize data with the current agents, fine-tune them on it, repeat.

``LOOP/`` keeps every iteration side by side::

    LOOP/loop.json                 settings and, per iteration: data counts, agent success rate, alpha_i, probe loss,
                                   evaluation before/after
    LOOP/iteration-01/data/        that iteration's DATA (``mora learn synthesize``)
    LOOP/iteration-01/run/         its training run: adapters/, final/, checkpoints/, log.jsonl, report/
    LOOP/iteration-01/comparison/  generations without and with the new adapters, evaluated

Iteration n synthesizes with iteration n-1's adapters and trains on from its final weights and z. Every phase is
resumable, so a killed loop continues where it stopped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from mora_agents.learning.settings import TrainSettings
from mora_agents.workspace import write_text_atomic

LOOP_FILE = "loop.json"


def iteration_dir(loop_dir: Path, iteration: int) -> Path:
    return Path(loop_dir) / f"iteration-{iteration:02d}"


def learn_loop(
    prompts_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    iterations: int = 1,
    candidates: int = 4,
    variants: int = 1,
    judges: Sequence[str] = ("metric",),
    human: str = "console",
    decisions: Sequence[str] | None = None,
    sop: str = "text_to_video",
    settings: TrainSettings | None = None,
    seed: int = 0,
    duration: float | None = None,
    llm: str | None = None,
    evaluate: bool = True,
    metrics: Sequence[str] | None = None,
    metrics_profile: str = "real",
    log: Callable[[str], None] | None = None,
) -> dict:
    """Run ``iterations`` rounds of synthesize -> train (-> compare); returns the ``loop.json`` record.

    ``decisions`` (human mode ``scripted``) are consumed across iterations in order.

    Raises:
        MoraError: from any phase, in one sentence (bad prompts file, bad data, an agent the profile cannot train).
    """
    from mora_agents.learning.comparison import compare_generation
    from mora_agents.learning.report import write_report
    from mora_agents.learning.synthesis import synthesize
    from mora_agents.learning.training import ADAPTERS, SETTINGS_FILE, checkpoints, train

    say = log or (lambda line: None)
    settings = settings or TrainSettings()
    loop_dir = Path(out_dir)
    loop_dir.mkdir(parents=True, exist_ok=True)
    record = _load_record(loop_dir, settings, iterations, candidates, judges, human, sop, seed)
    answers = list(decisions or [])
    previous: Path | None = None
    for iteration in range(1, iterations + 1):
        folder = iteration_dir(loop_dir, iteration)
        data, run = folder / "data", folder / "run"
        done = next((it for it in record["iterations"] if it["iteration"] == iteration and "train" in it), None)
        if done is not None and (run / ADAPTERS).is_dir():
            # Finished before (a rerun, or a resumed loop): nothing of it is redone.
            say(f"iteration {iteration}/{iterations}: done before")
            del answers[: done["data"].get("human_answers_used", 0)]
            previous = run
            continue
        say(f"iteration {iteration}/{iterations}: synthesize")
        clock = time.perf_counter()
        summary = synthesize(
            Path(prompts_file),
            data,
            candidates=candidates,
            variants=variants,
            judges=list(judges),
            human=human,
            decisions=answers,
            sop=sop,
            profile=settings.profile,
            adapters=str(previous) if previous else None,
            seed=seed + 1000 * (iteration - 1),
            iteration=iteration,
            duration=duration,
            llm=llm,
            log=say,
        )
        # Scripted answers the synthesis used are gone for the next iteration.
        del answers[: summary.human_answers_used]
        entry = {"iteration": iteration, "data": _jsonable(summary)}
        # Wall time per phase (a resumed phase counts only what this call did).
        seconds = entry["seconds"] = {"synthesize": round(time.perf_counter() - clock, 2)}
        if summary.kept == 0:
            say(f"iteration {iteration}: no sample kept; the loop stops here (nothing to train on)")
            entry["stopped"] = "no sample kept"
            _save_iteration(loop_dir, record, entry)
            break
        clock = time.perf_counter()
        if not (run / ADAPTERS).is_dir():
            say(f"iteration {iteration}/{iterations}: train")
            resume = bool(checkpoints(run)) and (run / SETTINGS_FILE).is_file()
            train(data, run, settings, resume=resume, start_from=previous if not resume else None, log=say)
        seconds["train"] = round(time.perf_counter() - clock, 2)
        clock = time.perf_counter()
        comparison = None
        if evaluate:
            comparison = _compare(folder, data, run, previous, settings, sop, seed, duration, llm, metrics,
                                  metrics_profile, say, compare_generation)  # fmt: skip
        seconds["compare"] = round(time.perf_counter() - clock, 2)
        write_report(run, comparison=comparison, data_summary=entry["data"])
        entry["train"] = json.loads((run / "report" / "report.json").read_text(encoding="utf-8"))
        _save_iteration(loop_dir, record, entry)
        previous = run
    return record


def _compare(folder, data, run, previous, settings, sop, seed, duration, llm, metrics, metrics_profile, say, compare):
    path = folder / "comparison.json"
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    from mora_agents.learning.dataset import load_training_data

    seeds = list(dict.fromkeys(sample.seed_prompt for sample in load_training_data(data)))
    say(f"{folder.name}: comparing generation before and after ({len(seeds)} prompts)")
    comparison = compare(
        seeds,
        folder / "comparison",
        after=run,
        before=previous,
        profile=settings.profile,
        sop=sop,
        seed=seed,
        duration=duration,
        llm=llm,
        metrics=metrics,
        metrics_profile=metrics_profile,
        log=say,
    )
    write_text_atomic(path, json.dumps(comparison, indent=2))
    return comparison


def _load_record(loop_dir: Path, settings, iterations, candidates, judges, human, sop, seed) -> dict:
    path = loop_dir / LOOP_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    record = {
        "settings": settings.model_dump(),
        "iterations_planned": iterations,
        "candidates": candidates,
        "judges": list(judges),
        "human": human,
        "sop": sop,
        "seed": seed,
        "iterations": [],
    }
    write_text_atomic(path, json.dumps(record, indent=2))
    return record


def _save_iteration(loop_dir: Path, record: dict, entry: dict) -> None:
    record["iterations"] = [it for it in record["iterations"] if it["iteration"] != entry["iteration"]] + [entry]
    record["iterations"].sort(key=lambda it: it["iteration"])
    write_text_atomic(loop_dir / LOOP_FILE, json.dumps(record, indent=2, default=str))


def _jsonable(summary) -> dict:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(summary):
        return asdict(summary)
    if hasattr(summary, "model_dump"):
        return summary.model_dump(mode="json")
    return dict(summary)


__all__ = ["LOOP_FILE", "iteration_dir", "learn_loop"]
