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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=2, choices=range(1, len(PROMPTS) + 1))
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--profile", default="tiny")
    args = parser.parse_args()

    from mora_agents.learning.loop import learn_loop
    from mora_agents.learning.settings import TrainSettings

    with tempfile.TemporaryDirectory(prefix="mora-learn-loop-") as scratch:
        prompts = Path(scratch) / "prompts.txt"
        prompts.write_text("\n".join(PROMPTS[: args.prompts]) + "\n")
        settings = TrainSettings(profile=args.profile, max_steps=args.steps, batch_size=min(4, args.prompts))
        clock = time.perf_counter()
        record = learn_loop(
            prompts,
            Path(scratch) / "loop",
            iterations=args.iterations,
            candidates=args.candidates,
            judges=["metric", "metric:flicker=-1"],
            human="none",
            settings=settings,
            duration=args.duration,
            metrics=["dynamic_degree", "motion_smoothness", "flicker"],
        )
        total = time.perf_counter() - clock
    rows = [{"iteration": entry["iteration"], "kept": entry["data"]["kept"], **entry.get("seconds", {})}
            for entry in record["iterations"]]  # fmt: skip
    print_table(
        f"mora learn loop on {args.profile}: {args.prompts} prompts x {args.candidates} candidates, {args.steps} steps",
        rows,
        ["iteration", "kept", "synthesize", "train", "compare"],
    )
    print(f"\nwhole loop: {total:.1f} s, peak RSS {peak_rss_mib():.0f} MiB")
    emit({"learn_loop_s": round(total, 2), "iterations": rows, "peak_rss_mib": peak_rss_mib()})


if __name__ == "__main__":
    main()
