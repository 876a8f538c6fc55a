"""mora serve overhead, measured through a live server (tiny profile by default).

Prints and writes (the last stdout line, and ``--json``):
- ``serve_cold_start_s``: from starting ``mora serve`` to its first answer on /healthz;
- ``serve_first_event_ms``: from POST /mora/v1/jobs to the job's first event on its SSE stream (a warm server);
- ``serve_warm_ratio``: a warm request's wall time (submit -> completed, seen by the client) over the run's own
  compute time (the manifest's ``seconds``): what the server adds (goal <= 1.05).

    python benchmarks/serve.py [--profile tiny] [--runs 3] [--duration 1] [--json serve.json] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, free_port, print_table, publish  # noqa: E402

PROMPT = "a paper boat on a pond"
READY_SECONDS = 120
"""How long ``mora serve`` may take to answer /healthz before the benchmark gives up."""
JOB_SECONDS = 600
"""How long one job may take before the benchmark gives up."""
SMOKE = {"profile": "tiny", "runs": 1, "duration": 1.0}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""


def measure(profile: str = "tiny", runs: int = 3, duration: float = 1.0) -> dict:
    """Start ``mora serve``, run ``runs + 1`` text_to_video jobs one after another (the first loads the models and
    is not counted), stop the server; returns ``{"serve_warm_ratio": ..., ..., "raw": {...}}``."""
    import httpx

    workspace = Path(tempfile.mkdtemp(prefix="mora-serve-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workspace / "serve.log"
    command = [sys.executable, "-m", "mora_agents.cli", "serve", "--port", str(port), "--workspace",
               str(workspace / "ws"), "--profile", profile]  # fmt: skip
    started = time.perf_counter()
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    try:
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"mora serve exited with {server.returncode}: {_tail(log)}")
            if time.perf_counter() - started > READY_SECONDS:
                raise RuntimeError(f"mora serve did not answer /healthz within {READY_SECONDS} s: {_tail(log)}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        cold = time.perf_counter() - started
        body = {"task": "text_to_video", "inputs": {"prompt": PROMPT, "duration": duration}}
        rows: list[dict] = []
        for run in range(runs + 1):  # the first run loads the models: not a warm request
            submitted = time.perf_counter()
            answer = httpx.post(f"{base}/mora/v1/jobs", json={**body, "seed": run}, timeout=30)
            answer.raise_for_status()
            job = answer.json()
            first_event = None
            with httpx.stream("GET", f"{base}/mora/v1/jobs/{job['id']}/events", timeout=JOB_SECONDS) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: {"):
                        first_event = time.perf_counter() - submitted
                        break
            while (state := httpx.get(f"{base}/mora/v1/jobs/{job['id']}", timeout=30).json())["status"] not in (
                "completed", "failed", "cancelled"):  # fmt: skip
                if time.perf_counter() - submitted > JOB_SECONDS:
                    raise RuntimeError(f"job {job['id']} still {state['status']} after {JOB_SECONDS} s")
                time.sleep(0.02)
            wall = time.perf_counter() - submitted
            if state["status"] != "completed":
                raise RuntimeError(f"job {job['id']} ended {state['status']}: {state.get('error')}")
            manifest = json.loads((workspace / "ws" / "runs" / job["id"] / "manifest.json").read_text())
            rows.append({"run": run, "warm": bool(run), "wall_s": round(wall, 3),
                         "compute_s": round(manifest["seconds"], 3), "ratio": round(wall / manifest["seconds"], 3),
                         "first_event_ms": None if first_event is None else round(first_event * 1000, 1)})  # fmt: skip
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=30)
    warm = [row for row in rows if row["warm"]]
    events = [row["first_event_ms"] for row in warm if row["first_event_ms"] is not None]
    return {
        "serve_warm_ratio": round(statistics.median(row["ratio"] for row in warm), 3),
        "serve_first_event_ms": round(statistics.median(events), 1) if events else None,
        "serve_cold_start_s": round(cold, 2),
        "raw": {"profile": profile, "duration_s": duration, "runs": rows},
    }


def _tail(log: Path) -> str:
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-5:]) if log.is_file() else "(no log)"


def report(result: dict) -> None:
    raw = result["raw"]
    title = (f"mora serve ({raw['profile']}, {raw['duration_s']} s videos; cold start {result['serve_cold_start_s']} s,"
             f" warm ratio {result['serve_warm_ratio']}, first event {result['serve_first_event_ms']} ms)")  # fmt: skip
    print_table(title, raw["runs"], ["run", "warm", "wall_s", "compute_s", "ratio", "first_event_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--runs", type=int, default=3, help="Warm runs, after one run that loads the models.")
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    result = measure(**SMOKE) if args.smoke else measure(args.profile, args.runs, args.duration)
    publish(result, report, args.json)


if __name__ == "__main__":
    main()
