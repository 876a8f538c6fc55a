"""What every benchmark here shares: peak memory of this process, child processes that report JSON, tables.

Benchmarks print their figures as a table and as JSON; none of them asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB.

    Linux's ``VmHWM`` where there is one: ``ru_maxrss`` survives ``execve``, so a child started by a parent
    that had grown large would report the parent's peak (the parent here loads models for the overhead run).
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)  # kB
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def peak_cuda_mib() -> float | None:
    """Peak CUDA memory allocated by torch in this process, in MiB; ``None`` without a GPU."""
    if "torch" not in sys.modules:
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def run_child(script: str, *args: str, timeout: float = 1800) -> dict:
    """Run ``benchmarks/<script> *args`` in a fresh Python (peak memory is per process) and return the JSON
    object its last stdout line holds."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"benchmarks/{script} {' '.join(args)} failed ({done.returncode}): " + " | ".join(tail))
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.setdefault("process_wall_s", round(time.perf_counter() - started, 2))
    return result


def free_port() -> int:
    """A TCP port free on the loopback interface now (for a server a benchmark starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def print_table(title: str, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """A plain aligned table (benchmark output is read in terminals and CI logs alike)."""
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(column.rjust(width) for column, width in zip(columns, widths, strict=True)))
    for line in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def emit(result: dict) -> None:
    """The last stdout line of a benchmark (or child) is its JSON result."""
    print(json.dumps(result), flush=True)


def publish(result: dict, report: Callable[[dict], None], path: Path | None = None) -> None:
    """A benchmark's end: its tables (``report``), its JSON in ``path`` if given, and the JSON as the last line."""
    report(result)
    if path is not None:
        path.write_text(json.dumps(result, indent=2), encoding="utf-8")
    emit(result)


def add_smoke_flag(parser: argparse.ArgumentParser, smoke: dict) -> None:
    """``--smoke``: the benchmark's smallest run (``smoke``, its settings), to check it still works."""
    parser.add_argument("--smoke", action="store_true", help=f"Smallest run, to check the benchmark works: {smoke}.")
