"""What each profile's models are, whether they are on this machine, how big, and how to get the missing ones.

This is what ``mora models list`` and ``mora models check`` show. Nothing here downloads or builds a model.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mora_tools.builders.registry import built_model_folder, is_built_reference
from mora_tools.loading.models import is_hub_repo_id, is_local_reference, profile_models
from mora_tools.loading.profiles import ModelProfile


@dataclass(frozen=True)
class ModelStatus:
    """One model a profile needs, as found on this machine."""

    role: str
    reference: str
    state: str
    """``present`` (loadable now), ``buildable`` (mora builds it from its config on first use) or ``missing``."""
    location: str | None = None
    size_bytes: int | None = None
    remedy: str | None = None
    """For a missing model: how to get it, as a command or an instruction."""

    @property
    def available(self) -> bool:
        return self.state != "missing"


def profile_status(profile: ModelProfile) -> list[ModelStatus]:
    """The status of every model ``profile`` names, in role order (no download, no build)."""
    return [model_status(reference, role) for role, reference in profile_models(profile)]


def model_status(reference: str, role: str) -> ModelStatus:
    """Where ``reference`` is on this machine (a built model's folder, a local folder, or the Hugging Face cache)."""
    if is_built_reference(reference):
        return _built_status(reference, role)
    path = Path(reference).expanduser()
    if is_local_reference(reference):
        if (path / "model_index.json").is_file():
            return ModelStatus(role, reference, "present", str(path), folder_bytes(path))
        return ModelStatus(
            role,
            reference,
            "missing",
            remedy=f"save a pipeline to {reference} with save_pretrained (no model_index.json)",
        )
    snapshot = _hub_snapshot(reference)
    if snapshot is not None:
        return ModelStatus(role, reference, "present", str(snapshot), folder_bytes(snapshot))
    return ModelStatus(
        role,
        reference,
        "missing",
        remedy=f"hf download {reference} where there is network, then copy the Hugging Face cache here or set HF_HOME",
    )


def _built_status(reference: str, role: str) -> ModelStatus:
    folder = built_model_folder(reference)
    if (folder / "model_index.json").is_file():
        return ModelStatus(role, reference, "present", str(folder), folder_bytes(folder))
    return ModelStatus(role, reference, "buildable", str(folder))


def _hub_snapshot(reference: str) -> Path | None:
    """The cached snapshot folder of a Hub repo, if its ``model_index.json`` is cached."""
    from huggingface_hub import try_to_load_from_cache

    if not is_hub_repo_id(reference):
        return None
    found = try_to_load_from_cache(reference, "model_index.json")
    return Path(found).parent if isinstance(found, str) else None


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder``, following the Hub cache's symlinks to their blobs (each counted once)."""
    seen: set[str] = set()
    total = 0
    for root, _dirs, files in os.walk(folder, followlinks=True):
        for name in files:
            real = os.path.realpath(os.path.join(root, name))
            if real not in seen and os.path.isfile(real):
                seen.add(real)
                total += os.path.getsize(real)
    return total


def format_bytes(size: int | None) -> str:
    """``1.2 GiB``-style sizes for tables; ``-`` when unknown."""
    if size is None:
        return "-"
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {units[unit]}"
