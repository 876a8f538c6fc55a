"""What a process that may die in native code leaves behind for its supervisor.

A model library can take the whole process down (llama.cpp on a CPU it was mis-built for, a CUDA kernel on a
GPU): no Python ``except`` runs then. So the process doing the work is a child (see
:mod:`mora_agents.supervisor`), and this module is its side of the contract, set up through one environment
variable, :data:`CRASH_DIR_ENV`, that names a folder the supervisor made:

- ``faults.txt``: :mod:`faulthandler` writes the Python stack there when a fatal signal arrives; the innermost
  frame that belongs to a known library names the part that died (:func:`part_that_died`).
- ``runs.txt``: every run folder the child creates, one path a line (:func:`note_run`), so the supervisor can
  mark those runs ``failed`` with the reason.

Stdlib only: the store (``workspace.py``) calls :func:`note_run`, and nothing here may import above it.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CRASH_DIR_ENV = "MORA_CRASH_DIR"
"""Set by the supervisor in the child's environment: the folder for ``faults.txt`` and ``runs.txt``."""
FAULTS_NAME = "faults.txt"
RUNS_NAME = "runs.txt"

PARTS: tuple[tuple[str, str], ...] = (
    ("llama_cpp", "the embedded LLM (llama.cpp)"),
    ("diffusers", "a diffusers pipeline"),
    ("transformers", "a transformers model"),
    ("sentence_transformers", "the embedding router (sentence-transformers)"),
    ("torch", "PyTorch"),
    ("cv2", "OpenCV"),
    ("imageio_ffmpeg", "ffmpeg"),
    ("imageio", "ffmpeg (imageio)"),
    ("PIL", "Pillow"),
    ("numpy", "NumPy"),
    ("mora_tools", "a mora model tool"),
    ("mora_agents", "mora"),
)
"""Top-level package -> the part it is, most specific first: the innermost frame in one of them names the part."""

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<function>\S+)')
_kept_file = None  # faulthandler writes to the descriptor: the file object must outlive this call


def enable() -> bool:
    """In a supervised child, send fatal-signal stacks to ``faults.txt``; does nothing outside one.

    Returns:
        Whether a crash folder was set, i.e. this process is supervised.
    """
    global _kept_file
    folder = os.environ.get(CRASH_DIR_ENV)
    if not folder:
        return False
    _kept_file = open(Path(folder) / FAULTS_NAME, "w", encoding="utf-8")  # noqa: SIM115 (kept open on purpose)
    faulthandler.enable(file=_kept_file, all_threads=True)
    if not sys.platform.startswith("linux"):  # Linux kills the child with its parent (PR_SET_PDEATHSIG)
        threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    return True


def _exit_when_orphaned(parent: int) -> None:
    # A supervisor killed with SIGKILL cannot stop its child: the child stops itself, as the one process would have.
    while os.getppid() == parent:
        time.sleep(0.2)
    os._exit(128 + 9)


def note_run(root: str | os.PathLike) -> None:
    """Record a run folder this process has just created (a no-op when not supervised)."""
    folder = os.environ.get(CRASH_DIR_ENV)
    if not folder:
        return
    with open(Path(folder) / RUNS_NAME, "a", encoding="utf-8") as handle:
        handle.write(f"{Path(root).resolve()}\n")
        handle.flush()


def signal_name(signum: int) -> str:
    """``SIGSEGV`` for 11, ``signal 77`` for a number with no name here."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def noted_runs(folder: Path) -> list[Path]:
    """The run folders a child recorded in ``folder``, in order, without duplicates."""
    path = folder / RUNS_NAME
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [Path(line) for line in dict.fromkeys(line.strip() for line in lines) if line]


@dataclass(frozen=True)
class DeadPart:
    """Where a crashed process was when it died."""

    part: str
    """The part, in words: ``the embedded LLM (llama.cpp)``; ``an unknown part`` when no frame was recorded."""
    where: str | None
    """The innermost frame of that part: ``Llama.decode`` style ``module.function``, or ``None``."""


def part_that_died(dump: str) -> DeadPart:
    """Read a :mod:`faulthandler` dump of the crashing thread: which part died, and in which frame.

    The part is the most specific library anywhere on the stack (:data:`PARTS` order: a CUDA fault inside
    torch called by a diffusers pipeline is the pipeline's); ``where`` is the innermost frame. A frame's
    package is the path part right after ``site-packages`` (or the project's own ``tools`` / ``mora_agents``).
    """
    frames = [match for line in _current_thread(dump) if (match := _FRAME.match(line))]
    if not frames:
        return DeadPart("an unknown part", None)
    innermost = frames[0]  # faulthandler lists the most recent call first
    where = f"{Path(innermost['file']).stem}.{innermost['function']}"
    packages = {_package_of(frame["file"]) for frame in frames}
    part = next((part for name, part in PARTS if name in packages), "an unknown part")
    return DeadPart(part, where)


def _current_thread(dump: str) -> list[str]:
    """The lines of the thread that crashed (faulthandler marks it ``Current thread``), else every line."""
    lines = dump.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Current thread")), None)
    if start is None:
        return lines
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("Thread ")), len(lines))
    return lines[start:end]


def _package_of(file: str) -> str | None:
    parts = Path(file).parts
    for marker in ("site-packages", "dist-packages"):
        if marker in parts:
            index = parts.index(marker)
            return parts[index + 1] if index + 1 < len(parts) else None
    for name in ("mora_tools", "mora_agents"):
        if name in parts:
            return name
    return None


__all__ = ["CRASH_DIR_ENV", "DeadPart", "enable", "note_run", "noted_runs", "part_that_died", "signal_name"]
