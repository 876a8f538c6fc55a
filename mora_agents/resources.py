"""Where the shipped data folders (``sop/``, ``prompts/``) are, installed or in a checkout.

In a built wheel they live inside the package as ``mora_agents/_data/``; in an editable install or a
checkout they are the repository's top-level ``sop/`` and ``prompts/``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from mora_agents.errors import MoraError

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped folder ``name`` (``"sop"`` or ``"prompts"``)."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise MoraError(f"mora's '{name}' folder is missing from the installation (looked in {_PACKAGE}): reinstall mora")


@cache
def role_prompt(role: str) -> str:
    """The system prompt of an agent role, from ``prompts/<role>.txt``."""
    path = data_dir("prompts") / f"{role}.txt"
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise MoraError(f"no system prompt for role '{role}': expected {path}") from None
    if not text:
        raise MoraError(f"the system prompt {path} is empty")
    return text
