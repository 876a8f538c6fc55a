"""Run work that may die in native code in a child process, and never let its death go silent.

The ``mora`` commands that load models (``generate``, ``run``, ``chat``, ...) re-run themselves as a child of a
thin parent that imports no model library. When the child is killed by a signal (a segfault in llama.cpp, an
illegal instruction, a CUDA kernel that takes the process down), the parent:

1. reads the child's :mod:`faulthandler` stack (:mod:`mora_agents.crash_report`) to name the part that died,
2. marks every run the child had started and not finished ``failed``, with that sentence as the reason,
3. prints the sentence (what died, how, and to run ``mora doctor``) and exits with ``128 + signal``, as a shell
   reports a signal death.

``mora serve`` is supervised the same way, and restarted (:func:`supervise_server`): the job on the device when
native code killed the server fails with the crash's sentence, every other job survives the restart.
Standard input, output and the terminal are inherited, so an interactive ``mora chat`` works unchanged; the
parent ignores Ctrl-C (the child, in the same process group, gets it and cancels its run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mora_agents import crash_report
from mora_agents.errors import DiskFullError, MoraError

SUPERVISED_COMMANDS = frozenset({"generate", "run", "chat", "route", "eval", "learn", "serve", "batch"})
"""``mora`` sub-commands that load models, and so run as a supervised child."""
SERVE_CRASH_ENV = "MORA_SERVE_CRASHED"
"""Set for a restarted server: the sentence of the crash that ended the last one (its device job fails)."""
SERVE_RESTARTS = 5
"""A server that crashes this often within :data:`SERVE_RESTART_WINDOW_S` is not restarted again."""
SERVE_RESTART_WINDOW_S = 600.0
DOCTOR_HINT = "run `mora doctor` to see which part of the install is broken"


@dataclass
class ChildCrash:
    """A child process that a signal killed."""

    signal_name: str
    """``SIGSEGV``, ``SIGILL``, ``SIGABRT``, ..."""
    exit_code: int
    """What the supervisor exits with: ``128 + signal number``."""
    part: crash_report.DeadPart
    runs_failed: list[Path] = field(default_factory=list)
    """Run folders that were marked ``failed`` because of this crash."""
    unrecorded: list[str] = field(default_factory=list)
    """Why a run could not be marked ``failed`` (a full disk): one sentence each, printed after the crash's."""

    @property
    def sentence(self) -> str:
        """The one sentence the user reads."""
        where = f" in {self.part.where}" if self.part.where else ""
        return f"{self.part.part} crashed the process ({self.signal_name}{where}); {DOCTOR_HINT}"


@dataclass
class SupervisedExit:
    """How a supervised child ended: its exit code, and the crash when a signal killed it."""

    exit_code: int
    crash: ChildCrash | None = None
    stopped: bool = False
    """The supervisor was asked to stop (``SIGTERM``) and passed it on: whatever the child died of, it is done."""


def run_supervised(
    command: Sequence[str], env: dict[str, str] | None = None, *, mark_runs: bool = True
) -> SupervisedExit:
    """Run ``command`` as a child with a crash folder, and explain it if a signal kills it.

    Args:
        command: the child's argv (``[sys.executable, "-m", "mora_agents.cli", ...]``).
        env: its environment (default: this process's); :data:`crash_report.CRASH_DIR_ENV` is added.
        mark_runs: mark the runs the child started and did not finish ``failed``; a server does not, since only
            its device job died with it (the restarted server fails that one and resumes the rest).

    Returns:
        The child's exit code, or ``128 + signal`` with a :class:`ChildCrash` when it was killed.
    """
    with tempfile.TemporaryDirectory(prefix="mora-crash-") as folder:
        child_env = dict(os.environ if env is None else env)
        child_env[crash_report.CRASH_DIR_ENV] = folder
        process = subprocess.Popen(list(command), env=child_env, preexec_fn=_die_with_parent)
        returncode, stopped = _wait_ignoring_interrupts(process)
        if returncode >= 0:
            return SupervisedExit(returncode, stopped=stopped)
        crash = _explain(-returncode, Path(folder), mark_runs)
        return SupervisedExit(128 - returncode, crash, stopped=stopped)


def _die_with_parent() -> None:
    """In the child, before it runs: a ``kill -9`` of the supervisor kills the child too (Linux's
    ``PR_SET_PDEATHSIG``), as it killed the one process ``mora`` used to be; an orphan would go on writing its run
    while a ``--resume`` redoes it. Elsewhere the child watches its parent (:func:`crash_report.enable`)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _wait_ignoring_interrupts(process: subprocess.Popen) -> tuple[int, bool]:
    # Ctrl-C reaches the child too (same process group); it cancels its run and exits 130. Forward a TERM.
    stopped = False

    def forward(signum: int, frame: object) -> None:
        nonlocal stopped
        stopped = True
        process.send_signal(signum)

    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, forward)
    try:
        return process.wait(), stopped
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def _explain(signum: int, folder: Path, mark_runs: bool = True) -> ChildCrash:
    name = crash_report.signal_name(signum)
    faults = folder / crash_report.FAULTS_NAME
    dump = faults.read_text(encoding="utf-8", errors="replace") if faults.is_file() else ""
    crash = ChildCrash(name, 128 + signum, crash_report.part_that_died(dump))
    for run_dir in crash_report.noted_runs(folder) if mark_runs else []:
        try:
            if mark_run_failed(run_dir, crash.sentence):
                crash.runs_failed.append(run_dir)
        except DiskFullError as error:  # the crash is still told, and so is this
            crash.unrecorded.append(str(error.then("continue it with --resume", run_dir)))
    return crash


def mark_run_failed(run_dir: Path, reason: str) -> bool:
    """Mark an unfinished run ``failed`` with ``reason`` (its running stages too); ``False`` when it had finished,
    has no manifest yet, or its manifest cannot be read (then nothing is written).

    Raises:
        DiskFullError: the disk of ``run_dir`` is full: the manifest was marked in place where it fit, else it is
            unchanged (see :meth:`~mora_agents.workspace.Workspace.save_manifest`).
    """
    from mora_agents.workspace import Workspace

    workspace = Workspace(run_dir)
    try:
        manifest = workspace.load_manifest()
    except MoraError:
        return False
    if manifest.status != "running":
        return False
    manifest.status, manifest.error = "failed", reason
    for stage in manifest.stages:
        if stage.status == "running":
            stage.status = "failed"
    workspace.save_manifest(manifest)
    return True


def wants_supervision(argv: Sequence[str]) -> bool:
    """Whether ``mora ARGV`` should run as a supervised child: a model-loading command, not already a child,
    and not switched off with ``MORA_SUPERVISE=0``."""
    if os.environ.get(crash_report.CRASH_DIR_ENV) or os.environ.get("MORA_SUPERVISE", "1") == "0":
        return False
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    return command in SUPERVISED_COMMANDS


def supervise_cli(argv: Sequence[str]) -> int:
    """Re-run ``mora ARGV`` as a supervised child; print the crash sentence if it dies. Returns the exit code."""
    if next((arg for arg in argv if not arg.startswith("-")), None) == "serve":
        return supervise_server(argv)
    result = run_supervised([sys.executable, "-m", "mora_agents.cli", *argv])
    if result.crash is not None:
        from rich.markup import escape

        from mora_agents.console import err

        err.print(f"[bold red]error:[/bold red] {result.crash.sentence}", highlight=False, soft_wrap=True)
        for run_dir in result.crash.runs_failed:
            err.print(f"run marked failed: {run_dir}", highlight=False, soft_wrap=True)
        for sentence in result.crash.unrecorded:
            err.print(f"[bold red]error:[/bold red] {escape(sentence)}", highlight=False, soft_wrap=True)
    return result.exit_code


def supervise_server(argv: Sequence[str]) -> int:
    """Run ``mora serve ARGV`` as a child, and start it again when native code kills it.

    The job that was on the device when the server died fails with the crash's sentence (the restarted server
    reads it from :data:`SERVE_CRASH_ENV`); every other job, queued or waiting for a person, goes on. A server
    that crashes :data:`SERVE_RESTARTS` times within :data:`SERVE_RESTART_WINDOW_S` is left down. Returns the exit
    code of the last child.
    """
    from mora_agents.console import err

    env, crashes = dict(os.environ), []
    while True:
        result = run_supervised([sys.executable, "-m", "mora_agents.cli", *argv], env, mark_runs=False)
        if result.crash is None or result.stopped:
            return result.exit_code
        sentence = result.crash.sentence.replace("crashed the process", "crashed the server", 1)
        err.print(f"[bold red]error:[/bold red] {sentence}", highlight=False, soft_wrap=True)
        now = time.monotonic()
        crashes = [when for when in crashes if now - when < SERVE_RESTART_WINDOW_S] + [now]
        if len(crashes) >= SERVE_RESTARTS:
            minutes = SERVE_RESTART_WINDOW_S / 60
            err.print(f"mora serve crashed {len(crashes)} times in {minutes:g} minutes: not restarting it",
                      highlight=False, soft_wrap=True)  # fmt: skip
            return result.exit_code
        err.print("restarting mora serve: the job on the device fails with that reason, every other job goes on",
                  highlight=False, soft_wrap=True)  # fmt: skip
        env[SERVE_CRASH_ENV] = sentence


__all__ = [
    "ChildCrash",
    "SupervisedExit",
    "mark_run_failed",
    "run_supervised",
    "supervise_cli",
    "supervise_server",
    "wants_supervision",
]
