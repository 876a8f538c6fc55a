"""Where SOP files are found: the built-in ``sop/``, then ``~/.config/mora/sop``, then ``--sop-dir`` folders.

A later folder's file overrides an earlier one of the same name, so a user can replace a built-in task
by dropping a file in; :func:`list_sops` says where each task comes from and what it overrides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.resources import data_dir
from mora_agents.sop._schema import SopSpec


@dataclass
class SopEntry:
    """One task file on the search path."""

    name: str
    path: Path
    origin: str
    """``built-in``, ``user`` (``~/.config/mora/sop``) or ``--sop-dir``."""
    overrides: list[Path] = field(default_factory=list)
    """Files of the same name earlier on the path that this one hides."""


def user_sop_dir() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "mora" / "sop"


def sop_dirs(extra: list[Path] | None = None) -> list[tuple[Path, str]]:
    """The search path with each folder's origin, lowest priority first."""
    return [(data_dir("sop"), "built-in"), (user_sop_dir(), "user"), *((Path(p), "--sop-dir") for p in extra or [])]


def list_sops(extra: list[Path] | None = None) -> dict[str, SopEntry]:
    """Task name -> the file that wins; a missing ``--sop-dir`` is an error, a missing user folder is not."""
    found: dict[str, SopEntry] = {}
    for folder, origin in sop_dirs(extra):
        if not folder.is_dir():
            if origin == "--sop-dir":
                raise MoraError(f"--sop-dir {folder} is not a folder")
            continue
        for path in sorted(folder.glob("*.yaml")):
            previous = found.get(path.stem)
            hidden = [*previous.overrides, previous.path] if previous else []
            found[path.stem] = SopEntry(path.stem, path, origin, hidden)
    return found


def find_sop(name: str, extra: list[Path] | None = None) -> SopSpec:
    """Load the task ``name`` (dashes allowed: ``text-to-video``) or an SOP file given by path.

    Raises:
        MoraError: no such task (the message lists the known ones), or the file does not validate.
    """
    if name.endswith((".yaml", ".yml")):
        return SopSpec.from_file(name)
    key = name.replace("-", "_")
    entries = list_sops(extra)
    if key not in entries:
        raise MoraError(f"unknown task '{name}': choose one of {', '.join(sorted(entries)) or '(none found)'}")
    spec = SopSpec.from_file(entries[key].path)
    if spec.name != key:
        raise MoraError(f"{entries[key].path}:1 name: '{spec.name}' must match the file name '{key}'")
    return spec
