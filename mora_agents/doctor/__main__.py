"""The child's side: ``python -m mora_agents.doctor NAME`` runs one check here and prints its report.

The report is one JSON line on the real stdout; whatever the libraries print goes to stderr instead, so it cannot
corrupt the report. Any failure the check did not foresee is reported too (type and first line, with the check's
fix): only a death by signal or a hang leaves no report, and the parent explains those.
"""

from __future__ import annotations

import json
import os
import sys

from mora_agents.doctor._checks import CHECKS_BY_NAME, CheckFailed, error_line
from mora_agents.errors import MoraError


def main(argv: list[str]) -> int:
    """Run the check ``argv[0]``; 0 when a report was written (whatever it says), 2 for a wrong name."""
    if len(argv) != 1 or argv[0] not in CHECKS_BY_NAME:
        print(
            f"usage: python -m mora_agents.doctor CHECK, with CHECK one of {', '.join(CHECKS_BY_NAME)}", file=sys.stderr
        )
        return 2
    check = CHECKS_BY_NAME[argv[0]]
    report_fd = os.dup(1)
    os.dup2(2, 1)  # from here on, prints (ours and the libraries') land on stderr
    try:
        finding = check.run()
        report = {"status": finding.status, "detail": finding.detail, "fix": None}
    except CheckFailed as failure:
        report = {"status": "FAIL", "detail": failure.detail, "fix": failure.fix}
    except MoraError as error:
        report = {"status": "FAIL", "detail": str(error), "fix": None}
    except Exception as error:  # a report, never a traceback: the user reads one line per check
        report = {"status": "FAIL", "detail": f"unexpected {error_line(error)}", "fix": check.fix}
    sys.stdout.flush()
    os.write(report_fd, (json.dumps(report) + "\n").encode("utf-8"))
    os.close(report_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
