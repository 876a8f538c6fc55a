"""Director routing time and accuracy on the pointing corpus (tests/director_corpus/), CPU.

Prints, per corpus file, the median and 95th-percentile time of one routed turn: "cold" (each case's session
seen for the first time: its artifacts' descriptions are embedded then) and "warm" (the same turn again, as
in a chat where the session's artifacts were embedded on an earlier turn), and the first answers as right /
asked (a question where the meaning was clear) / misasked (a question about other candidates than the
case's) / wrong (ran what the person did not mean: silently wrong). The model load is excluded. By default the
files are the test split (``mora_agents.director.training.TEST_SPLIT``: blind files nothing is trained or tuned on)
and the director is the embedded default, the trained model; ``--director llm`` reads turns with the configured
LLM (``MORA_LLM_BASE_URL``, ``MORA_LLM_MODEL``).

    python benchmarks/director_routing.py [--director learned|llm] [--corpora heldout17.yaml ...] [--limit N]
        [--json OUT] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, print_table, publish  # noqa: E402

SMOKE = {"corpora": ("dev.yaml",), "limit": 4, "director": "learned"}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""


def measure(corpora: tuple[str, ...] | None = None, limit: int | None = None, director: str = "learned") -> dict:
    """Route every case of ``corpora`` (default: the test split; the first ``limit`` cases of each) twice, cold then
    warm; returns the medians over all cases and, in ``raw``, each file's."""
    from mora_agents.conversation import make_director
    from mora_agents.director import LearnedResolver
    from mora_agents.director.corpus import load_cases, outcome
    from mora_agents.director.training import TEST_SPLIT
    from mora_agents.messages import DirectorTurn

    agent = make_director(None if director == "llm" else "none", director=director)
    if isinstance(agent.resolver, LearnedResolver):
        agent.resolver.warm_up(agent.sops)  # the model load is not a routing time
    rows, every = [], {"cold": [], "warm": []}
    outcomes: dict[str, int] = {"right": 0, "asked": 0, "misasked": 0, "wrong": 0}
    for name in corpora or TEST_SPLIT:
        cold, warm, counts = [], [], {"right": 0, "asked": 0, "misasked": 0, "wrong": 0}
        for case in load_cases(Path(__file__).resolve().parent.parent / "tests" / "director_corpus" / name)[:limit]:
            for times in (cold, warm):
                started = time.perf_counter()
                answer, _ = asyncio.run(agent.direct(DirectorTurn(text=case.say, artifacts=case.artifacts)))
                times.append((time.perf_counter() - started) * 1000)
                if times is cold:
                    counts[outcome(case, answer)] += 1
        every["cold"] += cold
        every["warm"] += warm
        for key, value in counts.items():
            outcomes[key] += value
        rows.append({"corpus": name, "cases": len(cold), **counts, "cold median": round(statistics.median(cold), 1),
                     "cold p95": round(_p95(cold), 1), "warm median": round(statistics.median(warm), 1),
                     "warm p95": round(_p95(warm), 1)})  # fmt: skip
    return {
        "routing_cold_median_ms": round(statistics.median(every["cold"]), 1),
        "routing_warm_median_ms": round(statistics.median(every["warm"]), 1),
        "routing_warm_p95_ms": round(_p95(every["warm"]), 1),
        "right_share": round(outcomes["right"] / max(sum(outcomes.values()), 1), 4),
        "silently_wrong_share": round(outcomes["wrong"] / max(sum(outcomes.values()), 1), 4),
        "raw": {"director": director, "cases": len(every["cold"]), "outcomes": outcomes, "corpora": rows},
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def report(result: dict) -> None:
    raw = result["raw"]
    print_table(f"director {raw['director']}: first answers and ms per turn", raw["corpora"],
                ["corpus", "cases", "right", "asked", "misasked", "wrong", "cold median", "cold p95", "warm median",
                 "warm p95"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--director", default="learned", choices=["learned", "llm"], help="How turns are read.")
    parser.add_argument("--corpora", nargs="+", help="Corpus files (default: the test split).")
    parser.add_argument("--limit", type=int, help="Route only the first N cases of each file.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(tuple(args.corpora) if args.corpora else None, args.limit, args.director)
    publish(result, report, args.json)


if __name__ == "__main__":
    main()
