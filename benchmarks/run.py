"""Run every benchmark and write their figures as one JSON file (and tables on stdout).

    python benchmarks/run.py [--quick | --smoke] [--profile bench-cpu] [--only NAME ...] --json OUT.json

- orchestration overhead (``overhead.py``): SOP run vs the same calls made directly;
- peak memory per policy (``peak_memory.py``): a run vs its heaviest stage alone;
- long video (``long_video_memory.py``): 4 s vs 60 s;
- warm vs cold (``warm_cold.py``): the second request of a session vs the first;
- the learning loop (``learn_loop.py``): a whole ``mora learn loop`` on tiny models, and the same command again
  on the finished loop and its first synthesis (``learn_loop_rerun_s``, ``synthesize_rerun_s``);
- engine ray against local (``ray_engine.py``): one request's overhead, a pipelined batch's throughput;
- ``mora serve`` (``serve.py``): cold start, first event, a warm request's wall time over its compute time;
- quality (``quality.py``): every task scored with the paper's metrics, the paper's numbers beside;
- the director's routing time on the pointing corpus (``director_routing.py``);
- the embedded LLMs as A1 and as the director's plan filler (``embedded_llm.py``);
- on a machine with a CUDA GPU only: the paper's 3 s text-to-video on ``bench`` (``gpu_text_to_video.py``) and
  one training step of A2 and A4 at full size (``learn_step.py``).

``--quick`` trims rounds, durations and request sets. ``--smoke`` runs each benchmark in its smallest mode (its
``SMOKE`` settings: tiny models, one round, the shortest video), the GPU ones on their CPU path, to check that every
benchmark still works (``tests/test_benchmarks_smoke.py``); its figures mean little. The JSON holds each
benchmark's result under its script's name, and its figures (all but ``raw``) at the top level too. The targets of
issue 5 are printed next to the figures; a missed target fails nothing, a benchmark that fails (an exception, e.g.
``overhead.NotTheSameWork``) is recorded under ``failed`` and makes the exit status 1, after the others ran.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import director_routing  # noqa: E402
import embedded_llm  # noqa: E402
import gpu_text_to_video  # noqa: E402
import learn_loop  # noqa: E402
import learn_step  # noqa: E402
import long_video_memory  # noqa: E402
import overhead  # noqa: E402
import peak_memory  # noqa: E402
import quality  # noqa: E402
import ray_engine  # noqa: E402
import serve  # noqa: E402
import warm_cold  # noqa: E402
from measure import print_table  # noqa: E402

_MODULES = (overhead, peak_memory, long_video_memory, warm_cold, learn_loop, ray_engine, serve, quality,
            director_routing, embedded_llm, gpu_text_to_video, learn_step)  # fmt: skip
BENCHMARKS: dict[str, ModuleType] = {module.__name__: module for module in _MODULES}
"""Every benchmark script, by name; each has ``measure(...) -> dict``, ``report(dict)`` and ``SMOKE`` (the keyword
arguments of its smallest run)."""
GPU_ONLY = ("gpu_text_to_video", "learn_step")
"""Run on a CUDA machine only, except in ``--smoke``, where they run their CPU path and their figures are kept out
of the top level (a tiny CPU run's ``gpu_time_vs_paper`` is no GPU figure)."""

TARGETS = {
    "overhead_ratio": ("<=", 1.05),
    "overhead_ms_per_stage": ("<=", 30.0),
    "peak_mem_ratio.free": ("<=", 1.15),
    "peak_mem_ratio.offload": ("<=", 1.15),
    "long_video_mem_ratio": ("<=", 1.10),
    "warm_cold_ratio": ("<=", 0.30),
    "ray_overhead_ratio": ("<=", 1.10),
    "serve_warm_ratio": ("<=", 1.05),
    "gpu_time_vs_paper": ("<=", 0.50),
    "gpu_peak_vs_paper": ("<=", 0.50),
}


def plan(args: argparse.Namespace, gpu: bool) -> dict[str, Callable[[], dict]]:
    """What to run, by benchmark name, in the mode ``args`` asks for."""
    if args.smoke:
        return {name: _bind(module.measure, module.SMOKE) for name, module in BENCHMARKS.items()}
    quick, profile = args.quick, args.profile
    duration = 1.0 if quick else 2.0
    steps = {
        "overhead": lambda: overhead.measure(profile, rounds=2 if quick else 5, duration=duration),
        "peak_memory": lambda: peak_memory.measure(profile, duration=duration),
        "long_video_memory": lambda: long_video_memory.measure(args.long_video_profile, (4.0, 60.0)),
        "warm_cold": lambda: warm_cold.measure(profile, duration=duration),
        "learn_loop": lambda: learn_loop.measure(iterations=1 if quick else 2),
        "ray_engine": lambda: ray_engine.measure(profile, 4 if quick else 8, 2, duration),
        "serve": lambda: serve.measure(runs=2 if quick else 3),  # tiny: what the server adds shows most there
        "quality": lambda: quality.measure(quick=quick),
        "director_routing": lambda: director_routing.measure(limit=10 if quick else None),
        "embedded_llm": lambda: embedded_llm.measure(("smollm2",) if quick else ("smollm2", "gemma3")),
    }
    if gpu:
        configs = ("baseline", "bf16", "compile") if quick else tuple(gpu_text_to_video.CONFIGS)
        steps["gpu_text_to_video"] = lambda: gpu_text_to_video.measure("bench", configs)
        steps["learn_step"] = lambda: learn_step.measure("bench")
    return steps


def _bind(function: Callable[..., dict], kwargs: dict) -> Callable[[], dict]:
    return lambda: function(**kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="Fewer rounds, shorter videos, fewer requests.")
    mode.add_argument("--smoke", action="store_true", help="Each benchmark's smallest run: does it still work?")
    parser.add_argument("--profile", default="bench-cpu", help="CPU profile for overhead, peak memory, warm/cold, ray.")
    parser.add_argument("--long-video-profile", default="tiny", help="Profile for the 4 s vs 60 s comparison.")
    parser.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto", help="Run the GPU benchmarks.")
    parser.add_argument("--only", nargs="+", choices=list(BENCHMARKS), help="Run only these benchmarks.")
    parser.add_argument("--json", type=Path, required=True, help="Where to write all figures.")
    args = parser.parse_args()
    started = time.perf_counter()
    gpu = args.gpu == "yes" or (args.gpu == "auto" and not args.smoke and _has_cuda())
    machine = {"python": platform.python_version(), "cpu_count": _cpus(), "quick": args.quick, "smoke": args.smoke}
    results: dict = {"machine": machine, "seconds": {}, "failed": {}}
    steps = plan(args, gpu)
    for name, run in steps.items():
        if args.only and name not in args.only:
            continue
        print(f"\n== {name} ...", flush=True)
        clock = time.perf_counter()
        try:
            result = run()
            results["seconds"][name] = round(time.perf_counter() - clock, 1)
            BENCHMARKS[name].report(result)
        except Exception as error:  # one broken benchmark must not lose the others' figures
            traceback.print_exc()
            results["seconds"].setdefault(name, round(time.perf_counter() - clock, 1))
            results["failed"][name] = f"{type(error).__name__}: {error}"
            continue
        results[name] = result
        if not (args.smoke and name in GPU_ONLY):  # a figure named like a benchmark would hide its result: kept out
            results.update((key, value) for key, value in result.items() if key != "raw" and key not in BENCHMARKS)
    results["total_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    title = "against the targets" + (" (smoke: smallest runs, not comparable)" if args.smoke else "")
    print_table(title, _against_targets(results), ["figure", "measured", "target", "met"])
    print_table("seconds per benchmark", [results["seconds"]], list(results["seconds"]))
    print(f"\nall figures: {args.json} ({results['total_s']} s)")
    if results["failed"]:
        for name, error in results["failed"].items():
            print(f"FAILED {name}: {error}", file=sys.stderr)
        sys.exit(1)


def _against_targets(results: dict) -> list[dict]:
    rows = []
    for key, (op, target) in TARGETS.items():
        value = results
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        met = None if value is None else value <= target
        rows.append({"figure": key, "measured": value, "target": f"{op} {target}", "met": met})
    return rows


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    main()
