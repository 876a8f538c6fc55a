"""Model references mora builds itself (``tiny/<name>``, ``random/<name>``), by prefix: what the loading layer asks.

Loading imports this module (never the reverse), so it can resolve a built model without an import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mora_tools.builders.bench import random_model_path, random_models_root
from mora_tools.builders.tiny import tiny_model_path, tiny_models_root

TINY_PREFIX = "tiny/"
RANDOM_PREFIX = "random/"


@dataclass(frozen=True)
class BuiltFamily:
    """One family of built models: where its models are saved and what builds one on demand."""

    root: Callable[[], Path]
    """The folder its models are (or will be) saved in; nothing is built."""
    model_path: Callable[[str], Path]
    """The folder of one model by name, built on first use."""


BUILT_FAMILIES: dict[str, BuiltFamily] = {
    TINY_PREFIX: BuiltFamily(tiny_models_root, tiny_model_path),
    RANDOM_PREFIX: BuiltFamily(random_models_root, random_model_path),
}
"""Model-reference prefix -> the family of models built under it."""
BUILT_PREFIXES = tuple(BUILT_FAMILIES)
"""Model references mora builds itself from configs (random weights) instead of loading from the Hub."""


def is_built_reference(reference: str) -> bool:
    """Whether ``reference`` names a model mora builds itself (``tiny/...``, ``random/...``)."""
    return reference.startswith(BUILT_PREFIXES)


def built_model_folder(reference: str) -> Path:
    """Where the built model ``reference`` is saved (it may not be built yet); nothing is built.

    Raises:
        ValueError: ``reference`` names no built model family.
    """
    prefix, family = _family(reference)
    return family.root() / reference.removeprefix(prefix)


def built_model_path(reference: str) -> Path:
    """The folder of the built model ``reference``, built on first use.

    Raises:
        ValueError: ``reference`` names no built model family, or an unknown model of one.
        OSError: the model cannot be written (e.g. not enough free disk).
    """
    prefix, family = _family(reference)
    return family.model_path(reference.removeprefix(prefix))


def _family(reference: str) -> tuple[str, BuiltFamily]:
    for prefix, family in BUILT_FAMILIES.items():
        if reference.startswith(prefix):
            return prefix, family
    raise ValueError(f"'{reference}' is not a model mora builds (those start with {', '.join(BUILT_PREFIXES)})")
