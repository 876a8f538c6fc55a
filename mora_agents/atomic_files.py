"""The one way mora makes a file or a folder appear only complete: build it under a temporary sibling name, fsync,
rename it into place. A run's PNGs, copies and manifests, a built model in the cache, the LLM's assembled GGUF and
the doctor's probe all go through :func:`write_atomically`, so a killed process or a full disk never leaves a
half-written file where a reader looks.

Store layer: imports only the bottom (:mod:`mora_agents.errors`); every layer above may import it, ``mora_tools``
included.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from mora_agents.errors import disk_full_as_error


def write_atomically(
    target: str | os.PathLike, write: Callable[[Path], None], *, done: Callable[[Path], bool] | None = None
) -> Path:
    """Make the file or folder ``target`` by ``write(staging)``, fsync it and rename ``staging`` into place.

    ``staging`` is a fresh, not yet existing sibling of ``target`` (same folder, so the rename is atomic), named
    ``.<name>-<pid>-<random>.partial``: two processes making the same target never share one. Whatever ``write``
    leaves behind is removed when it fails.

    Args:
        target (`str` or `os.PathLike`): the file or folder to make; its parent folders are created.
        write (`Callable[[Path], None]`): writes the file or folder at the path it is given.
        done (`Callable[[Path], bool]`, *optional*): whether a ``target`` already in place when the write finishes
            is complete. A complete one is kept (another process made it first) and this one dropped; an incomplete
            one is replaced. ``None``: whatever is in place is replaced.

    Returns:
        ``target`` as a `Path`.

    Raises:
        DiskFullError: the disk of ``target``'s folder is full (``staging`` removed, ``target`` untouched).
        OSError: the folder cannot be written, or whatever ``write`` raises (``staging`` removed first).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        with disk_full_as_error(target.parent):
            write(staging)
            if staging.is_file():
                _fsync(staging, os.O_RDONLY)
            if _in_place(target, done):
                return target
            try:
                os.replace(staging, target)
            except OSError:
                # Another process put a complete target in place between the check above and the rename.
                if done is None or not done(target):
                    raise
                return target
            _fsync(target.parent, os.O_DIRECTORY)
    finally:
        _remove(staging)
    return target


def _in_place(target: Path, done: Callable[[Path], bool] | None) -> bool:
    """Whether a complete ``target`` is already there (then it is kept); an incomplete folder is cleared for the
    rename, which cannot replace a non-empty folder."""
    if not (target.exists() or target.is_symlink()):
        return False
    if done is not None and done(target):
        return True
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    return False


def _fsync(path: Path, flags: int) -> None:
    descriptor = os.open(path, flags)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


__all__ = ["write_atomically"]
