"""Wall time of a whole ``mora learn loop`` on the tiny profile (CPU): synthesize, train and compare per iteration.

Metric judges (offline), a scripted human for disagreements, the paper's training settings except the learning rate.
The figures say how long the loop's machinery takes around models that cost little; with real models the model
time dominates. Then what finding work done costs: the same loop again on the finished folder
(``learn_loop_rerun_s``), and ``mora learn synthesize`` again on the first iteration's finished DATA with the settings
it recorded (``synthesize_rerun_s``: no run made, no model loaded).

    python benchmarks/learn_loop.py [--iterations 2] [--prompts 2] [--candidates 4] [--steps 12] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, peak_rss_mib, print_table  # noqa: E402

SMOKE = {"iterations": 1, "prompts": 1, "candidates": 2, "steps": 1}
"""The smallest run (``--smoke``, ``run.py --smoke``): one prompt's two candidates, so it keeps no pair and trains
nothing (``tests/test_learn_loop.py`` covers training); it checks the benchmark works, its figures mean little."""
PROMPTS = ["a red kite over a green hill", "a paper boat on a pond at dawn", "a lighthouse in fog", "a fox in snow"]


def measure(
    iterations: int = 2,
    prompts: int = 2,
    candidates: int = 4,
    steps: int = 12,
    duration: float = 1.0,
    profile: str = "tiny",
) -> dict:
    """One whole loop in a scratch folder, then the loop and its first synthesis again; returns ``{"learn_loop_s":
    seconds, "learn_loop_rerun_s": seconds, "synthesize_rerun_s": seconds, "raw": {...}}``."""
    import inspect
    import json

    from mora_agents.learning import synthesize
    from mora_agents.learning.loop import iteration_dir, learn_loop
    from mora_agents.learning.settings import TrainSettings

    with tempfile.TemporaryDirectory(prefix="mora-learn-loop-") as scratch:
        path = Path(scratch) / "prompts.txt"
        path.write_text("\n".join(PROMPTS[:prompts]) + "\n")
        settings = TrainSettings(profile=profile, max_steps=steps, batch_size=min(4, prompts))

        def loop() -> dict:
            return learn_loop(
                path,
                Path(scratch) / "loop",
                iterations=iterations,
                candidates=candidates,
                judges=["metric", "metric:flicker=-1"],
                human="none",
                settings=settings,
                duration=duration,
                metrics=["dynamic_degree", "motion_smoothness", "flicker"],
            )

        clock = time.perf_counter()
        record = loop()
        total = time.perf_counter() - clock
        clock = time.perf_counter()
        loop()
        rerun = time.perf_counter() - clock
        data = iteration_dir(Path(scratch) / "loop", 1) / "data"
        recorded = json.loads((data / "synthesis.json").read_text(encoding="utf-8"))
        # The settings synthesize takes, as the loop gave them (the file also holds the prompts and a version).
        settings = {key: value for key, value in recorded.items() if key in inspect.signature(synthesize).parameters}
        clock = time.perf_counter()
        again = synthesize(path, data, **settings)
        synthesize_rerun = time.perf_counter() - clock
        assert again.runs_made == again.models_loaded == 0, "the finished DATA was not recognised as finished"
    rows = [{"iteration": entry["iteration"], "kept": entry["data"]["kept"], **entry.get("seconds", {})}
            for entry in record["iterations"]]  # fmt: skip
    title = f"mora learn loop on {profile}: {prompts} prompts x {candidates} candidates, {steps} steps"
    return {
        "learn_loop_s": round(total, 2),
        "learn_loop_rerun_s": round(rerun, 2),
        "synthesize_rerun_s": round(synthesize_rerun, 2),
        "raw": {"title": title, "iterations": rows, "peak_rss_mib": peak_rss_mib()},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    print_table(raw["title"], raw["iterations"], ["iteration", "kept", "synthesize", "train", "compare"])
    print(f"\nwhole loop: {result['learn_loop_s']:.1f} s, peak RSS {raw['peak_rss_mib']:.0f} MiB")
    print(f"the same loop again, finished: {result['learn_loop_rerun_s']:.2f} s; its first synthesis again: "
          f"{result['synthesize_rerun_s']:.2f} s (nothing made, nothing loaded)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=2, choices=range(1, len(PROMPTS) + 1))
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--profile", default="tiny")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(args.iterations, args.prompts, args.candidates, args.steps, args.duration, args.profile)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
