"""The lowest layer of the model side: where mora keeps what it builds, and how it builds there safely.

Everything in :mod:`mora_tools` may import this module; it imports nothing of mora's (and no torch at import time).
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    """Where mora keeps built models: ``$MORA_CACHE_DIR`` or ``~/.cache/mora``."""
    return Path(os.environ.get("MORA_CACHE_DIR") or Path.home() / ".cache" / "mora")


def build_atomically(
    target: Path, build: Callable[[Path], None], *, done: Callable[[Path], bool] | None = None
) -> Path:
    """Make the file or folder ``target`` by ``build(staging)`` and rename ``staging`` into place.

    ``staging`` is a fresh, not yet existing sibling of ``target`` (same folder, so the rename is atomic): a killed
    build leaves no half-written ``target``, and an unfinished ``staging`` is removed whenever ``build`` fails.

    Args:
        target (`Path`): the file or folder to make; its parent folders are created.
        build (`Callable[[Path], None]`): writes the file or folder at the path it is given.
        done (`Callable[[Path], bool]`, *optional*): whether a ``target`` already in place when the build finishes
            is complete. A complete one is kept (another process built it first) and this build is dropped; an
            incomplete one is replaced. ``None``: whatever is in place is replaced.

    Returns:
        ``target``.

    Raises:
        OSError: the folder cannot be written (or whatever ``build`` raises; ``staging`` is removed first).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        build(staging)
        if target.exists() or target.is_symlink():
            if done is not None and done(target):
                return target
            if target.is_dir() and not target.is_symlink():
                # os.replace cannot rename a folder onto a non-empty one.
                shutil.rmtree(target)
        try:
            os.replace(staging, target)
        except OSError:
            # Another process finished the same target between the check above and the rename.
            if done is None or not done(target):
                raise
    finally:
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging, ignore_errors=True)
        elif staging.exists() or staging.is_symlink():
            staging.unlink(missing_ok=True)
    return target


def quiet_libraries() -> None:
    """Switch off transformers' and diffusers' progress bars and advisories.

    Our own progress sink reports the work; the libraries' loading bars and advisories would only interleave with it.
    """
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
