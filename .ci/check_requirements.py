"""`pip check`, limited to mora-agents and what it needs (with the extras CI installs).

The CI machine's Python may carry packages of its own (botocore, aws-sam-translator) whose pins clash with
versions we need; those clashes are the machine's, not ours. A broken requirement anywhere in our own
dependency tree still fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = "mora-agents"
EXTRAS = {"dev", "gemma", "ray"}


def closure() -> set[str]:
    """Names of mora-agents and every distribution it requires, transitively, with the CI extras."""
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(ROOT, frozenset(EXTRAS))]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue  # pip check reports it as missing, and the line names a package of ours
        for line in requires:
            requirement = Requirement(line)
            wanted = requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            if wanted:
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen


def main() -> int:
    ours = closure()
    result = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    problems, foreign = [], []
    for line in result.stdout.splitlines():
        first = re.match(r"([A-Za-z0-9_.\-]+)", line)
        if first is None:
            continue
        (problems if canonicalize_name(first.group(1)) in ours else foreign).append(line)
    for line in foreign:
        print(f"(not ours, ignored) {line}")
    for line in problems:
        print(line)
    print(f"pip check over {len(ours)} distributions of mora-agents' tree: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
