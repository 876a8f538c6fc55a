"""Warm vs cold: the second request of a chat session against the first, with memory policy ``keep``.

One fresh process holds one session: the first request pays for importing the libraries and loading
every model (the director's router and LLM, A1's LLM, A2's and A4's pipelines); the second, a different
request of the same task, finds them loaded. Both go through the director, as in ``mora chat``.

    python benchmarks/warm_cold.py [--profile bench-cpu] [--duration 2] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, print_table, run_child  # noqa: E402

SMOKE = {"profile": "tiny", "duration": 1.0}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""
REQUESTS = (
    "make a {d} second video of a red kite flying over a green hill",
    "make a {d} second video of a sailing boat on a calm lake at dawn",
)


async def child(profile: str, duration: float) -> None:
    from mora_agents.conversation import Conversation
    from mora_agents.session import Session
    from mora_agents.studio import StudioConfig

    folder = Path(tempfile.mkdtemp(prefix="mora-warm-"))
    session = Session.create(folder / "session", "warm-cold")
    conversation = Conversation(session, StudioConfig(profile=profile, memory="keep"))
    seconds, tasks = [], []
    for index, text in enumerate(REQUESTS):
        started = time.perf_counter()
        turn = await conversation.take_turn(text.format(d=int(duration)), seed=index)
        seconds.append(round(time.perf_counter() - started, 3))
        tasks.append(turn.request.task if turn.request else turn.status)
    emit({"cold_s": seconds[0], "warm_s": seconds[1], "tasks": tasks, "model_loads": conversation.memory.loads})


def measure(profile: str = "bench-cpu", duration: float = 2.0) -> dict:
    raw = run_child("warm_cold.py", "--child", "--profile", profile, "--duration", str(duration))
    return {"warm_cold_ratio": round(raw["warm_s"] / raw["cold_s"], 3), "raw": {"profile": profile, **raw}}


def report(result: dict) -> None:
    raw = result["raw"]
    row = {"cold s": raw["cold_s"], "warm s": raw["warm_s"], "ratio": result["warm_cold_ratio"],
           "model loads": raw["model_loads"], "tasks": "+".join(raw["tasks"])}  # fmt: skip
    print_table(f"warm vs cold ({raw['profile']}, policy keep)", [row], list(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench-cpu")
    parser.add_argument("--duration", type=float, default=2.0)
    add_smoke_flag(parser, SMOKE)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        asyncio.run(child(args.profile, args.duration))
        return
    result = measure(**SMOKE) if args.smoke else measure(args.profile, args.duration)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
