"""The parent's side: run each check in a child process and turn however it ended into one result.

A child can end four ways, and each becomes a :class:`CheckResult`: it reports (its JSON line on stdout), it is
killed by a signal (a segfault in native code: named with the part that died, from the stack :mod:`faulthandler`
prints), it hangs (killed after the check's timeout) or it exits without a report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from mora_agents import crash_report
from mora_agents.doctor._checks import CHECKS, CHECKS_BY_NAME, STATUSES, Check
from mora_agents.errors import MoraError


@dataclass(frozen=True)
class CheckResult:
    """How one check went, as the report shows it."""

    name: str
    label: str
    status: str
    """``ok``, ``info`` or ``FAIL``."""
    detail: str
    fix: str | None = None
    """What to do, one sentence; only where the check failed and the detail does not already say it."""
    seconds: float = 0.0
    """Wall time of the child process, start-up included."""

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"

    def to_dict(self) -> dict:
        return asdict(self)


def run_in_child(
    command: Sequence[str],
    *,
    name: str,
    label: str,
    timeout_s: float,
    fix: str,
    env: dict[str, str] | None = None,
) -> CheckResult:
    """Run ``command`` as a child and read its report: the last stdout line, ``{"status", "detail", "fix"}``.

    Args:
        command: the child's argv.
        name: the check's name, for the result.
        label: the check's label, for the result.
        timeout_s: the child (and anything it started) is killed after this many seconds.
        fix: the sentence the result carries when the child crashes, hangs or exits without a report.
        env: the child's environment (default: this process's); ``PYTHONFAULTHANDLER`` is added, so a Python
            child that dies by a signal prints its stack on stderr first.

    Returns:
        The child's report, or a ``FAIL`` naming the signal, the timeout or the exit code.
    """
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONFAULTHANDLER"] = "1"
    start = time.perf_counter()
    # A session of its own: on a timeout the whole group goes (imageio's ffmpeg, a tokenizer's workers).
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        return CheckResult(name, label, "FAIL", f"did not finish in {timeout_s:g} s and was killed", fix, timeout_s)
    except BaseException:
        # Ctrl-C reaches the parent only (the child has its own session): take the child down with it.
        _kill_group(process)
        process.wait()
        raise
    seconds = round(time.perf_counter() - start, 2)
    errors = stderr.decode("utf-8", errors="replace")
    if process.returncode < 0:
        return CheckResult(name, label, "FAIL", _crash_detail(-process.returncode, errors), fix, seconds)
    report = _report(stdout.decode("utf-8", errors="replace"))
    if process.returncode != 0 or report is None:
        last = next((line.strip() for line in reversed(errors.splitlines()) if line.strip()), "no output")
        detail = f"exited with code {process.returncode} without a report ({last})"
        return CheckResult(name, label, "FAIL", detail, fix, seconds)
    status = report.get("status") if report.get("status") in STATUSES else "FAIL"
    reported_fix = report.get("fix") if status == "FAIL" else None
    return CheckResult(name, label, status, str(report.get("detail", "")), reported_fix, seconds)


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # it ended on its own meanwhile


def _crash_detail(signum: int, stderr: str) -> str:
    signal_name = crash_report.signal_name(signum)
    if signum == signal.SIGKILL:
        # Nothing in the child sends itself SIGKILL: the kernel's out-of-memory killer is the usual sender.
        return f"was killed ({signal_name}, most often by the out-of-memory killer)"
    part = crash_report.part_that_died(stderr)
    where = "" if part.where is None else f" at {part.where}"
    if part.where is None or part.part == "an unknown part":
        return f"crashed ({signal_name}){where}"
    return f"crashed ({signal_name}) in {part.part}{where}"


def _report(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.strip():
            try:
                report = json.loads(line)
            except json.JSONDecodeError:
                return None
            return report if isinstance(report, dict) else None
    return None


def run_check(check: Check) -> CheckResult:
    """Run ``check`` in a child: ``python -m mora_agents.doctor NAME``, with the check's timeout and fix."""
    return run_in_child(
        [sys.executable, "-m", "mora_agents.doctor", check.name],
        name=check.name,
        label=check.label,
        timeout_s=check.timeout_s,
        fix=check.fix,
    )


def select_checks(names: Sequence[str] | None = None) -> list[Check]:
    """The checks this machine gets, in report order; ``names`` picks some.

    Raises:
        MoraError: a name that is no check, or only checks this machine does not get.
    """
    if names:
        unknown = [name for name in names if name not in CHECKS_BY_NAME]
        if unknown:
            raise MoraError(f"unknown check '{unknown[0]}': choose from {', '.join(CHECKS_BY_NAME)}")
    checks = [check for check in CHECKS if check.applies() and (not names or check.name in names)]
    if not checks:
        raise MoraError(f"check '{names[0]}' does not apply on this machine: run `mora doctor` for the ones that do")
    return checks


def run_doctor(
    names: Sequence[str] | None = None, on_result: Callable[[CheckResult], None] | None = None
) -> list[CheckResult]:
    """Run the checks one after another, each in its own child; ``on_result`` sees each result as it comes.

    One at a time: the parts under test are the heaviest the studio loads, and timings mean more alone.
    """
    results = []
    for check in select_checks(names):
        result = run_check(check)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def format_result(result: CheckResult, label_width: int = 16) -> str:
    """One line: ``ok    embedded LLM      SmolLM2-... answered ... in 0.4 s``, with ``— fix: ...`` on a failure."""
    line = f"{result.status:<5} {result.label:<{label_width}}  {result.detail}"
    return line + (f" — fix: {result.fix}" if result.fix else "")
