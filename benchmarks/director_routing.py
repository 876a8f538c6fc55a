"""Director routing time and accuracy on the pointing corpus (tests/director_corpus/), embedded defaults, CPU.

Prints, per corpus file, the median and 95th-percentile time of one routed turn: "cold" (each case's session
seen for the first time: its artifacts' descriptions are embedded then) and "warm" (the same turn again, as
in a chat where the session's artifacts were embedded on an earlier turn), and the first answers as right /
asked (a question where the meaning was clear) / misasked (a question about other candidates than the
case's) / wrong (ran what the person did not mean: silently wrong). The model load is excluded.

    python benchmarks/director_routing.py [--director rules|learned] [--llm none|embedded] [--corpora dev.yaml ...]
        [--limit N] [--json OUT] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))  # the corpus reader, after the packages

from measure import add_smoke_flag, print_table, publish  # noqa: E402

SMOKE = {"llm": "embedded", "corpora": ("dev.yaml",), "limit": 4, "director": "learned"}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""


def measure(
    llm: str = "embedded", corpora: tuple[str, ...] | None = None, limit: int | None = None, director: str = "rules"
) -> dict:
    """Route every case of ``corpora`` (default: all of ``tests/test_director_corpus.CORPORA``; the first ``limit``
    cases of each) twice, cold then warm; returns the medians over all cases and, in ``raw``, each file's."""
    from test_director_corpus import CORPORA

    from mora_agents.conversation import make_director
    from mora_agents.director.corpus import load_cases, outcome
    from mora_agents.messages import DirectorTurn

    agent = make_director(llm, director=director)
    if agent.resolver is not None:
        agent.resolver.warm_up(agent.sops)
    else:
        agent.router.warm_up(agent.sops.values())
    rows, every = [], {"cold": [], "warm": []}
    outcomes: dict[str, int] = {"right": 0, "asked": 0, "misasked": 0, "wrong": 0}
    for name in corpora or tuple(CORPORA):
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
        "raw": {"llm": llm, "director": director, "cases": len(every["cold"]), "outcomes": outcomes, "corpora": rows},
    }


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def report(result: dict) -> None:
    raw = result["raw"]
    print_table(f"director {raw['director']}, llm={raw['llm']}: first answers and ms per turn", raw["corpora"],
                ["corpus", "cases", "right", "asked", "misasked", "wrong", "cold median", "cold p95", "warm median",
                 "warm p95"])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", default="embedded", choices=["embedded", "none"])
    parser.add_argument("--director", default="rules", choices=["rules", "learned"], help="How turns are read.")
    parser.add_argument("--corpora", nargs="+", help="Corpus files (default: all of them).")
    parser.add_argument("--limit", type=int, help="Route only the first N cases of each file.")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(args.llm, tuple(args.corpora) if args.corpora else None, args.limit, args.director)
    publish(result, report, args.json)


if __name__ == "__main__":
    main()
