"""``mora doctor``: is every embedded part of this install working? One line per part, the fix where it is not.

Each check runs in a child process of its own (``python -m mora_agents.doctor NAME``), so a part that crashes
in native code (llama.cpp built with native flags on an AMX CPU segfaults) is reported as a crash with its fix
instead of taking the doctor down, and a part that hangs is killed after its timeout.

Example:
    >>> results = run_doctor(["cache"])
    >>> print(format_result(results[0]))
    ok    cache folder  /root/.cache/mora (default) is writable, 76.6 GiB free
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from mora_agents.doctor._checks import CHECKS, STATUSES, Check, CheckFailed, Finding
from mora_agents.doctor._runner import CheckResult, format_result, run_check, run_doctor, run_in_child, select_checks

_STYLES = {"ok": "green", "info": "cyan", "FAIL": "bold red"}


def doctor_command(names: Sequence[str] | None = None, as_json: bool = False) -> int:
    """What ``mora doctor`` does: run the checks, print a line as each finishes (or JSON at the end).

    Args:
        names: only these checks (``--only``); ``None``: every check this machine gets.
        as_json: print one JSON object ``{"ok", "seconds", "checks": [...]}`` instead of lines.

    Returns:
        The exit code: 0 when every check holds, 2 when one fails.

    Raises:
        MoraError: a name that is no check.
    """
    from rich.text import Text

    from mora_agents.console import out

    checks = select_checks(names)
    width = max(len(check.label) for check in checks)

    def show(result: CheckResult) -> None:
        line = Text(f"{result.status:<5}", style=_STYLES[result.status])
        line.append(format_result(result, width).removeprefix(f"{result.status:<5}"))
        out.print(line, highlight=False, soft_wrap=True)

    start = time.perf_counter()
    results = run_doctor([check.name for check in checks], on_result=None if as_json else show)
    seconds = round(time.perf_counter() - start, 1)
    failed = [result for result in results if result.failed]
    if as_json:
        record = {"ok": not failed, "seconds": seconds, "checks": [result.to_dict() for result in results]}
        print(json.dumps(record, indent=2))
    elif len(results) == 1:
        out.print(f"the check {'failed' if failed else 'holds'} ({seconds:.0f} s)", highlight=False)
    elif failed:
        out.print(f"{len(failed)} of {len(results)} checks failed ({seconds:.0f} s)", highlight=False)
    else:
        out.print(f"all {len(results)} checks hold ({seconds:.0f} s)", highlight=False)
    return 2 if failed else 0


__all__ = [
    "CHECKS",
    "STATUSES",
    "Check",
    "CheckFailed",
    "CheckResult",
    "Finding",
    "doctor_command",
    "format_result",
    "run_check",
    "run_doctor",
    "run_in_child",
    "select_checks",
]
