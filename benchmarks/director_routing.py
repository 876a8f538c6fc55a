"""Director routing time on the pointing corpus (tests/director_corpus/), embedded defaults, CPU.

Prints, per corpus file, the median and 95th-percentile time of one routed turn: "cold" (each case's session
seen for the first time: its artifacts' descriptions are embedded then) and "warm" (the same turn again, as
in a chat where the session's artifacts were embedded on an earlier turn). The model load is excluded.

    python benchmarks/director_routing.py [--llm none|embedded]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from test_director_corpus import CORPORA, load  # noqa: E402

from mora_agents.conversation import make_director  # noqa: E402
from mora_agents.messages import DirectorTurn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="embedded", choices=["embedded", "none"])
    args = parser.parse_args()
    director = make_director(args.llm)
    director.router.warm_up(director.sops.values())
    print(f"director routing time, llm={args.llm} (ms per turn)")
    print(f"{'corpus':<16}{'cases':>6}{'cold median':>13}{'cold p95':>10}{'warm median':>13}{'warm p95':>10}")
    for name in CORPORA:
        cold, warm = [], []
        for case in load(name):
            for times in (cold, warm):
                started = time.perf_counter()
                asyncio.run(director.direct(DirectorTurn(text=case.say, artifacts=case.artifacts)))
                times.append((time.perf_counter() - started) * 1000)
        print(f"{name:<16}{len(cold):>6}{statistics.median(cold):>13.1f}{_p95(cold):>10.1f}"
              f"{statistics.median(warm):>13.1f}{_p95(warm):>10.1f}")  # fmt: skip


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


if __name__ == "__main__":
    main()
