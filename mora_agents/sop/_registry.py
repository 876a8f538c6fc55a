"""Where SOP files are found: the built-in ``sop/``, then ``~/.config/mora/sop``, then extra folders.

A later folder's file overrides an earlier one of the same name, so a user can replace a built-in task.
"""

from __future__ import annotations

import os
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.resources import data_dir
from mora_agents.sop._schema import SopSpec


def sop_dirs(extra: list[Path] | None = None) -> list[Path]:
    """The search path, lowest priority first."""
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "mora" / "sop"
    return [data_dir("sop"), config, *(extra or [])]


def sop_files(extra: list[Path] | None = None) -> dict[str, Path]:
    """Task name -> file, later folders winning."""
    found: dict[str, Path] = {}
    for folder in sop_dirs(extra):
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found[path.stem] = path
    return found


def find_sop(name: str, extra: list[Path] | None = None) -> SopSpec:
    """Load the task ``name`` (dashes allowed: ``text-to-video``) or an SOP file given by path.

    Raises:
        MoraError: no such task, or the file does not validate.
    """
    if name.endswith((".yaml", ".yml")):
        return SopSpec.from_file(name)
    key = name.replace("-", "_")
    files = sop_files(extra)
    if key not in files:
        raise MoraError(f"unknown task '{name}': choose one of {', '.join(sorted(files)) or '(none found)'}")
    spec = SopSpec.from_file(files[key])
    if spec.name != key:
        raise MoraError(f"{files[key]}: name: '{spec.name}' must match the file name '{key}'")
    return spec
