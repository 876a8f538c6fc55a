"""Wall time of a whole ``mora learn loop`` on the tiny profile (CPU): synthesize, train and compare per iteration.

Metric judges (offline), a scripted human for disagreements, the paper's training settings except the learning rate.
The figures say how long the loop's machinery takes around models that cost little; with real models the model
time dominates.

    python benchmarks/learn_loop.py [--iterations 2] [--prompts 2] [--candidates 4] [--steps 12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import emit, peak_rss_mib, print_table  # noqa: E402

PROMPTS = ["a red kite over a green hill", "a paper boat on a pond at dawn", "a lighthouse in fog", "a fox in snow"]


def measure(
    iterations: int = 2,
    prompts: int = 2,
    candidates: int = 4,
    steps: int = 12,
    duration: float = 1.0,
    profile: str = "tiny",
) -> dict:
    """One whole loop in a scratch folder; returns ``{"learn_loop_s": seconds, "raw": {...}}``."""
    from mora_agents.learning.loop import learn_loop
    from mora_agents.learning.settings import TrainSettings

    with tempfile.TemporaryDirectory(prefix="mora-learn-loop-") as scratch:
        path = Path(scratch) / "prompts.txt"
        path.write_text("\n".join(PROMPTS[:prompts]) + "\n")
        settings = TrainSettings(profile=profile, max_steps=steps, batch_size=min(4, prompts))
        clock = time.perf_counter()
        record = learn_loop(
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
        total = time.perf_counter() - clock
    rows = [{"iteration": entry["iteration"], "kept": entry["data"]["kept"], **entry.get("seconds", {})}
            for entry in record["iterations"]]  # fmt: skip
    title = f"mora learn loop on {profile}: {prompts} prompts x {candidates} candidates, {steps} steps"
    return {
        "learn_loop_s": round(total, 2),
        "raw": {"title": title, "iterations": rows, "peak_rss_mib": peak_rss_mib()},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    print_table(raw["title"], raw["iterations"], ["iteration", "kept", "synthesize", "train", "compare"])
    print(f"\nwhole loop: {result['learn_loop_s']:.1f} s, peak RSS {raw['peak_rss_mib']:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=2, choices=range(1, len(PROMPTS) + 1))
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args()
    result = measure(args.iterations, args.prompts, args.candidates, args.steps, args.duration, args.profile)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
