"""The artifacts of a session folder, for ``mora route --session DIR``: ``DIR/session.json``'s ``artifacts``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from mora_agents.containment import resolve_inside
from mora_agents.errors import MoraError
from mora_agents.messages import SessionArtifact

SESSION_FILE = "session.json"

_ARTIFACTS = TypeAdapter(list[SessionArtifact])


def read_session_artifacts(folder: str | Path) -> list[SessionArtifact]:
    """The ``artifacts`` list of ``folder/session.json`` (empty when the session has made nothing yet).

    Raises:
        MoraError: the folder or its session.json is missing, the file is not a session file, or an artifact's path
            leads out of the session folder.
    """
    folder = Path(folder)
    path = folder / SESSION_FILE
    if not folder.is_dir():
        raise MoraError(f"--session {folder} is not a folder: give a session folder made by mora run or mora chat")
    if not path.is_file():
        raise MoraError(
            f"--session {folder} has no {SESSION_FILE}: give a session folder made by mora run or mora chat"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise MoraError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    except json.JSONDecodeError as error:
        raise MoraError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise MoraError(f"{path}: a session file must be a JSON object with an 'artifacts' list")
    try:
        artifacts = _ARTIFACTS.validate_python(data.get("artifacts") or [])
    except ValidationError as error:
        first = error.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"])
        raise MoraError(f"{path}: artifacts{where}: {first['msg']}") from None
    for artifact in artifacts:
        what = f"{SESSION_FILE} of session {folder.name} artifact {artifact.index}"
        resolve_inside(folder, artifact.path, what=what, folder="the session folder", absolute=True)
    return artifacts
