"""`mora ARGS` run inside the test process (typer's CliRunner): the same commands, without a new interpreter.

A child process spends about 10 s importing torch, diffusers, transformers and peft before it does anything; a
test that checks what a command makes (not how a process ends: crashes, signals, tracebacks) runs it here.
Exceptions are not caught: a bug fails the test with its traceback instead of becoming exit code 1.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from typer.testing import CliRunner


def mora_here(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``mora ARGS`` in this process; the result reads like ``subprocess.run``'s (returncode, stdout, stderr)."""
    from mora_agents.cli import app

    with contextlib.chdir(cwd or Path.cwd()):
        result = CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)
