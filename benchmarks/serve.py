"""mora serve overhead, measured through a live server (tiny profile by default).

Prints and (with --json) writes:
- ``cold_start_s``: from starting ``mora serve`` to its first answer on /healthz;
- ``first_event_ms``: from POST /mora/v1/jobs to the job's first event on its SSE stream (a warm server);
- ``serve_warm_ratio``: a warm request's wall time (submit -> completed, seen by the client) over the run's own
  compute time (the manifest's ``seconds``): what the server adds (goal <= 1.05).

    python benchmarks/serve.py [--profile tiny] [--runs 3] [--json serve.json]
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

import httpx

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from test_serve import free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=1.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    workspace = Path(tempfile.mkdtemp(prefix="mora-serve-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "mora_agents.cli", "serve", "--port", str(port), "--workspace",
                               str(workspace / "ws"), "--profile", args.profile], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        cold = time.perf_counter() - started
        body = {"task": "text_to_video", "inputs": {"prompt": "a paper boat on a pond", "duration": args.duration}}
        ratios, first_events = [], []
        for run in range(args.runs + 1):  # the first run loads the models: not a warm request
            submitted = time.perf_counter()
            job = httpx.post(f"{base}/mora/v1/jobs", json={**body, "seed": run}, timeout=30).json()
            with httpx.stream("GET", f"{base}/mora/v1/jobs/{job['id']}/events", timeout=None) as stream:
                for line in stream.iter_lines():
                    if line.startswith("data: {"):
                        first_event = time.perf_counter() - submitted
                        break
            while (state := httpx.get(f"{base}/mora/v1/jobs/{job['id']}").json())["status"] not in (
                "completed", "failed", "cancelled"):  # fmt: skip
                time.sleep(0.02)
            wall = time.perf_counter() - submitted
            manifest = json.loads((workspace / "ws" / "runs" / job["id"] / "manifest.json").read_text())
            if run:
                ratios.append(wall / manifest["seconds"])
                first_events.append(first_event * 1000)
            print(f"run {run}: {state['status']}, wall {wall:.2f} s, compute {manifest['seconds']:.2f} s"
                  f"{' (cold: loads the models)' if not run else ''}")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    result = {
        "profile": args.profile,
        "cold_start_s": round(cold, 2),
        "first_event_ms": round(statistics.median(first_events), 1),
        "serve_warm_ratio": round(statistics.median(ratios), 3),
        "warm_ratios": [round(r, 3) for r in ratios],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
