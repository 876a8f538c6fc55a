"""Run every benchmark and write their figures as one JSON file (and tables on stdout).

    python benchmarks/run.py [--quick] [--profile bench-cpu] --json OUT.json

- orchestration overhead (``overhead.py``): SOP run vs the same calls made directly;
- engine ray against local (``ray_engine.py``): one request's overhead, a pipelined batch's throughput;
- peak memory per policy (``peak_memory.py``): a run vs its heaviest stage alone;
- long video (``long_video_memory.py``): 4 s vs 60 s;
- warm vs cold (``warm_cold.py``): the second request of a session vs the first;
- the learning loop (``learn_loop.py``): a whole ``mora learn loop`` on tiny models, and the same command again
  on the finished loop and its first synthesis (``learn_loop_rerun_s``, ``synthesize_rerun_s``);
- on a machine with a CUDA GPU only: the paper's 3 s text-to-video on ``bench`` (``gpu_text_to_video.py``) and
  one training step of A2 and A4 at full size (``learn_step.py``).

``--quick`` trims rounds and durations so the CPU part takes under 10 minutes on a small machine. The
targets of issue 5 are printed next to the figures; nothing here fails on a missed target.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import gpu_text_to_video  # noqa: E402
import learn_loop  # noqa: E402
import learn_step  # noqa: E402
import long_video_memory  # noqa: E402
import overhead  # noqa: E402
import peak_memory  # noqa: E402
import ray_engine  # noqa: E402
import warm_cold  # noqa: E402
from measure import print_table  # noqa: E402

TARGETS = {
    "overhead_ratio": ("<=", 1.05),
    "overhead_ms_per_stage": ("<=", 30.0),
    "peak_mem_ratio.free": ("<=", 1.15),
    "peak_mem_ratio.offload": ("<=", 1.15),
    "long_video_mem_ratio": ("<=", 1.10),
    "warm_cold_ratio": ("<=", 0.30),
    "ray_overhead_ratio": ("<=", 1.10),
    "gpu_time_vs_paper": ("<=", 0.50),
    "gpu_peak_vs_paper": ("<=", 0.50),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer rounds, shorter videos (CPU part < 10 min).")
    parser.add_argument("--profile", default="bench-cpu", help="CPU profile for overhead, peak memory, warm/cold.")
    parser.add_argument("--long-video-profile", default="tiny", help="Profile for the 4 s vs 60 s comparison.")
    parser.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto", help="Run the GPU benchmark.")
    parser.add_argument("--json", type=Path, required=True, help="Where to write all figures.")
    args = parser.parse_args()
    quick = args.quick
    started = time.perf_counter()
    results: dict = {"machine": {"python": platform.python_version(), "cpu_count": _cpus(), "quick": quick}}
    duration = 1.0 if quick else 2.0
    steps = [
        ("overhead", lambda: overhead.measure(args.profile, rounds=2 if quick else 5, duration=duration), overhead),
        ("peak_memory", lambda: peak_memory.measure(args.profile, duration=duration), peak_memory),
        ("long_video", lambda: long_video_memory.measure(args.long_video_profile, (4.0, 60.0)), long_video_memory),
        ("warm_cold", lambda: warm_cold.measure(args.profile, duration=duration), warm_cold),
        ("learn_loop", lambda: learn_loop.measure(iterations=1 if quick else 2), learn_loop),
        ("ray_engine", lambda: ray_engine.measure(args.profile, 4 if quick else 8, 2, duration), ray_engine),
    ]
    if args.gpu == "yes" or (args.gpu == "auto" and _has_cuda()):
        configs = ("baseline", "bf16", "compile") if quick else tuple(gpu_text_to_video.CONFIGS)
        steps.append(("gpu", lambda: gpu_text_to_video.measure("bench", configs), gpu_text_to_video))
        steps.append(("learn_step", lambda: learn_step.measure_agents("bench"), learn_step))
    for name, run, module in steps:
        print(f"\n== {name} ...", flush=True)
        result = run()
        module.report(result)
        results[name] = result
        for key, value in result.items():
            if key != "raw":
                results[key] = value
    results["total_s"] = round(time.perf_counter() - started, 1)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print_table("against the targets", _against_targets(results), ["figure", "measured", "target", "met"])
    print(f"\nall figures: {args.json} ({results['total_s']} s)")


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
