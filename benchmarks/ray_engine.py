"""Engine ray against engine local: one request's wall time, and a batch's throughput with requests pipelined.

Both engines run in this process through :class:`mora_agents.batch.Batch`, on the same requests and seeds, with
models kept loaded (local: one ``keep`` memory; ray: the roles' actors). One untimed request warms each engine
first (the actors' start and model loads are reported apart, as ``cold_s``). The outputs' sha256s are compared:
the figures are only meaningful if both engines made the same files.

- ``ray_overhead_ratio``: one request's wall time, ray / local (median over rounds; goal <= 1.10 on bench-cpu).
- ``batch_throughput_ratio``: N requests, ray pipelined (all in flight) against local one after another, as
  throughput (local seconds / ray seconds; above 1 means the pipeline pays). On a CPU machine every role shares
  the same cores, so expect about 1; on a GPU machine with a GPU per role the roles truly overlap.

    python benchmarks/ray_engine.py [--profile bench-cpu] [--requests 8] [--rounds 3] [--duration 1] [--cpus N]
        [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, print_table  # noqa: E402

SMOKE = {"profile": "tiny", "count": 0, "rounds": 1, "duration": 1.0, "cpus": 2}
"""The smallest run (``--smoke``, ``run.py --smoke``): one request per engine after the warm-up, no batch; it checks the
benchmark works, its figures mean little."""
PROMPTS = [
    "a paper boat drifting down a rainy street gutter",
    "a red kite over a green hill",
    "a lighthouse at night, its beam sweeping the fog",
    "a hot air balloon rising over a desert at dawn",
    "a fox trotting through fresh snow",
    "a tram climbing a steep street at sunset",
    "koi fish circling in a garden pond",
    "a campfire crackling under the stars",
]


def requests(count: int, duration: float, first_seed: int) -> list:
    from mora_agents.messages import VideoRequest

    return [
        VideoRequest(
            task="text_to_video",
            inputs={"prompt": PROMPTS[i % len(PROMPTS)], "duration": duration},
            seed=first_seed + i,
        )  # fmt: skip
        for i in range(count)
    ]


def run_batch(items: list, engine: str, profile: str, out: Path) -> tuple[float, list[str]]:
    """Seconds for the whole batch and the outputs' sha256s."""
    from mora_agents.batch import Batch
    from mora_agents.studio import StudioConfig

    config = StudioConfig(profile=profile, engine=engine, memory="keep")
    started = time.perf_counter()
    results = asyncio.run(Batch(items, out, config).run())
    seconds = time.perf_counter() - started
    failed = [r.error for r in results if r.status != "completed"]
    if failed:
        raise RuntimeError(f"{engine}: {failed[0]}")
    return seconds, [r.sha256 for r in results]


def measure(
    profile: str = "bench-cpu", count: int = 8, rounds: int = 3, duration: float = 1.0, cpus: int | None = None
) -> dict:
    import ray

    cpus = cpus or os.cpu_count()
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    raw: dict = {"single": {"local": [], "ray": []}, "cold_s": {}, "batch_s": {}}
    same = True
    try:
        with tempfile.TemporaryDirectory() as tmp:

            def timed(engine: str, items: list, name: str) -> tuple[float, list[str]]:
                return run_batch(items, engine, profile, Path(tmp) / f"{name}-{engine}")

            for engine in ("local", "ray"):  # warm-up: the ray actors start and load here
                raw["cold_s"][engine] = round(timed(engine, requests(1, duration, 0), "warm")[0], 2)
            for n in range(rounds):  # alternately, so drift in the machine's speed hits both
                shas = {}
                for engine in ("local", "ray"):
                    seconds, shas[engine] = timed(engine, requests(1, duration, 100 + n), f"one{n}")
                    raw["single"][engine].append(round(seconds, 3))
                same &= shas["local"] == shas["ray"]
            if count:  # 0: no batch
                shas = {}
                for engine in ("local", "ray"):
                    seconds, shas[engine] = timed(engine, requests(count, duration, 200), "batch")
                    raw["batch_s"][engine] = round(seconds, 2)
                same &= shas["local"] == shas["ray"]
    finally:
        ray.shutdown()
    local, remote = (statistics.median(raw["single"][engine]) for engine in ("local", "ray"))
    return {
        "ray_overhead_ratio": round(remote / local, 3),
        "batch_throughput_ratio": round(raw["batch_s"]["local"] / raw["batch_s"]["ray"], 3) if count else None,
        "same_files": same,
        "raw": {**raw, "profile": profile, "requests": count, "duration": duration, "cpus": cpus},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    rows = [
        {"figure": "one request, warm (median s)", **{e: statistics.median(raw["single"][e]) for e in raw["single"]}},
        {"figure": "first request (actors start, models load)", **raw["cold_s"]},
    ]
    if raw["batch_s"]:
        rows.append({"figure": f"{raw['requests']} requests (s)", **raw["batch_s"]})
    title = f"engine ray vs local ({raw['profile']}, {raw['duration']} s clips, {raw['cpus']} CPUs)"
    print_table(title, rows, ["figure", "local", "ray"])
    print(f"ray_overhead_ratio {result['ray_overhead_ratio']}, ", end="")
    print(f"batch_throughput_ratio {result['batch_throughput_ratio']}, same files: {result['same_files']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench-cpu", help="Model profile (bench on a GPU machine).")
    parser.add_argument("--requests", type=int, default=8, help="Requests in the batch (0: no batch).")
    parser.add_argument("--rounds", type=int, default=3, help="Single-request rounds per engine.")
    parser.add_argument("--duration", type=float, default=1.0, help="Seconds of each clip.")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the local Ray cluster (default: all).")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(args.profile, args.requests, args.rounds, args.duration, args.cpus)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
