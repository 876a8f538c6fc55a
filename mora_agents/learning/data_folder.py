"""Opening a synthesis DATA folder: made new with its settings, or resumed when its settings match (prompts may be
appended, nothing else changed), and the states of the sets made so far read back."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from mora_agents import __version__
from mora_agents.errors import MoraError
from mora_agents.learning.dataset import SETS_DIR, SETTINGS_NAME, SetState, SynthesisSettings
from mora_agents.workspace import now_iso, write_text_atomic


def open_data_folder(root: Path, settings: SynthesisSettings) -> None:
    """Create the data folder ``root`` with ``settings``, or check that an existing one was made with them.

    Raises:
        MoraError: ``root`` is a file, a folder of something else, or made with other settings.
    """
    if root.exists() and not root.is_dir():
        raise MoraError(f"{root} is a file, not a data folder: choose another --out")
    settings_path = root / SETTINGS_NAME
    if settings_path.is_file():
        _check_settings(root, settings_path, settings)
    elif root.is_dir() and any(root.iterdir()):
        raise MoraError(f"{root} is not empty and holds no {SETTINGS_NAME}: choose a new --out folder for the data")
    else:
        try:
            (root / SETS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise MoraError(f"cannot create the data folder {root}: {error.strerror or error}") from None
        _write_settings(settings_path, settings)


def read_state(path: Path) -> SetState:
    """A set's ``state.json``.

    Raises:
        MoraError: it is unreadable or not a set state (one sentence: remove the set folder).
    """
    try:
        return SetState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as error:
        detail = " ".join(str(error).split())[:160]
        raise MoraError(
            f"{path} is not a valid set state ({detail}): remove its set folder to make the set again"
        ) from None


def _check_settings(root: Path, path: Path, settings: SynthesisSettings) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        recorded = SynthesisSettings.model_validate(data)
    except (OSError, ValueError) as error:
        detail = " ".join(str(error).split())[:160]
        raise MoraError(f"{path} is unreadable ({detail}): choose a new --out folder") from None
    for name in SynthesisSettings.model_fields:
        if name == "prompts":
            continue
        then, now = getattr(recorded, name), getattr(settings, name)
        if then != now:
            raise MoraError(
                f"{root} was made with {name}={_shown(then)}, not {_shown(now)}: "
                "resume it with the same settings, or choose a new --out folder"
            )
    old, new = recorded.prompts, settings.prompts
    for number, (before, after) in enumerate(zip(old, new, strict=False), start=1):
        if before != after:
            raise MoraError(
                f"prompt {number} is '{after}', but {root} was made with '{before}': "
                "prompts may be appended, not changed (or choose a new --out folder)"
            )
    if len(new) < len(old):
        raise MoraError(
            f"the prompts file has {len(new)} prompts, but {root} was made from {len(old)}: "
            "prompts may be appended, not removed (or choose a new --out folder)"
        )
    if len(new) > len(old):
        _write_settings(path, settings)


def _write_settings(path: Path, settings: SynthesisSettings) -> None:
    record = {"mora_version": __version__, "created": now_iso(), **settings.model_dump()}
    write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


def _shown(value: object) -> str:
    return "none" if value is None else ",".join(value) if isinstance(value, list) else str(value)
