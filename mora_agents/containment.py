"""Nothing escapes its folder: the one check for every path mora reads from a file or a request.

A path read from a file (a manifest's artifact, a session's run folder, a DATA row, a set's candidate) or from a
request names a file of the folder that file belongs to. Before it is opened, :func:`resolve_inside` resolves it
(``..`` and symlinks followed, as the operating system would) and refuses it, in one sentence, unless the result
is inside that folder. So a crafted ``manifest.json`` naming ``../../etc/passwd``, ``/etc/passwd``, or a symlink
that points out of the run folder cannot make mora read, link or serve that file.

A symlink inside the folder that points to another place inside the same folder is fine: what it resolves to is
inside. A path that does not exist yet is resolved as far as it exists (``strict=False``), so files about to be
written are checked the same way.

This module sits at the bottom of the layers: it imports the standard library and :mod:`mora_agents.errors` only,
so ``mora_tools/`` may use it too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mora_agents.errors import MoraError, NotFoundError


def resolve_inside(
    root: str | os.PathLike,
    name: str | os.PathLike,
    *,
    what: str,
    folder: str = "the folder",
    absolute: bool = False,
) -> Path:
    """The resolved path of ``name`` under ``root``, checked to stay inside ``root`` (symlinks included).

    Args:
        root: the folder ``name`` belongs to (a run folder, a session folder, a DATA folder).
        name: the path as read, relative to ``root``.
        what: who names the path, for the message, e.g. ``"manifest.json of run 20261125-x"``.
        folder: what ``root`` is, for the message, e.g. ``"the run folder"``.
        absolute: accept an absolute ``name`` too (a file that records absolute paths, such as ``session.json``'s
            artifacts), as long as it resolves inside ``root``.

    Returns:
        `Path`: the absolute, resolved path (symlinks followed).

    Raises:
        MoraError: one sentence naming ``what``, the path and ``root``: ``name`` holds a NUL byte, is absolute (or
            starts with ``~``) without ``absolute``, cannot be resolved (a symlink loop), or resolves outside ``root``.

    Example:
        >>> resolve_inside("/runs/r1", "video.mp4", what="manifest.json of run r1", folder="the run folder")
        PosixPath('/runs/r1/video.mp4')
    """
    text = os.fspath(name)
    if "\x00" in text:
        raise MoraError(f"{what} names a path with a NUL byte ({text!r}), which no file can have")
    base = Path(root).resolve()
    # "~" counts as absolute: readers that expand it (SOP inputs do) would leave the folder for the home folder.
    if not absolute and (Path(text).is_absolute() or text.startswith("~")):
        kind = "a path in the home folder" if text.startswith("~") else "an absolute path"
        raise MoraError(f"{what} names '{text}', {kind}, but it must be relative to {folder} {base}")
    try:
        # Not os.path.abspath: that drops ".." lexically, while the OS follows a symlink first and then "..".
        resolved = (base / text).resolve()
    except (OSError, RuntimeError) as error:  # RuntimeError: a symlink loop (Python < 3.13)
        raise MoraError(f"{what} names '{text}', which cannot be resolved ({error}) inside {folder} {base}") from None
    if not resolved.is_relative_to(base):
        raise MoraError(f"{what} names '{text}' -> {resolved}, which is outside {folder} {base}")
    return resolved


def servable_file(
    root: str | os.PathLike, name: str | os.PathLike, *, what: str, folder: str = "the folder", absolute: bool = False
) -> Path:
    """The file ``name`` of ``root`` that a server may send: inside ``root`` (:func:`resolve_inside`), a regular file,
    and not a hard link. The one check of every route that serves a file (the Videos API's content, the job API's
    files, the web page's ``file=``).

    A hard link is a second name for a file that may live anywhere on the same disk, and resolving it shows nothing:
    a file with more names than ``root`` holds (one outside it) is refused. Names inside ``root`` are fine: a run
    publishes ``video.mp4`` as a second name of its last stage's file.

    Args:
        absolute: accept an absolute ``name`` too, as long as it resolves inside ``root`` (see :func:`resolve_inside`).

    Raises:
        NotFoundError: one sentence naming ``what`` and ``name``: outside ``root``, missing, not a regular file, a
            hard link to a file outside ``root``, or a name the operating system refuses (too long). To a client, a
            file it may not have reads as one that is not there.
    """
    try:
        path = resolve_inside(root, name, what=what, folder=folder, absolute=absolute)
    except MoraError as error:
        raise NotFoundError(str(error)) from None
    try:
        info = path.stat()
    except OSError as error:  # missing, or a name too long for the file system
        reason = "no such file" if isinstance(error, FileNotFoundError) else error.strerror or type(error).__name__
        raise NotFoundError(f"{what} has no file '{_short(name)}' ({reason})") from None
    if not stat.S_ISREG(info.st_mode):
        raise NotFoundError(f"{what} has no file '{_short(name)}' (it is not a regular file)")
    if info.st_nlink > 1 and _names_inside(Path(root).resolve(), info) < info.st_nlink:
        raise NotFoundError(
            f"{what}: '{_short(name)}' is a hard link to a file outside {folder}, which is never served"
        )
    return path


def _names_inside(root: Path, info: os.stat_result) -> int:
    """How many names under ``root`` the file ``info`` has (folders walked without following links)."""
    count = 0
    for current, _, files in os.walk(root, followlinks=False):
        for entry in files:
            try:
                other = os.lstat(os.path.join(current, entry))
            except OSError:
                continue  # removed while walking: not a name of it any more
            count += (other.st_ino, other.st_dev) == (info.st_ino, info.st_dev)
    return count


def _short(name: str | os.PathLike) -> str:
    text = os.fspath(name)
    return text if len(text) <= 80 else text[:77] + "..."


def is_inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` (absolute, or relative to the working directory) resolves inside ``root``.

    For choosing, not for refusing: a reader that must refuse calls :func:`resolve_inside`, which says why.
    """
    text = os.fspath(path)
    if "\x00" in text:
        return False
    try:
        return Path(text).resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):
        return False


def check_tree_inside(root: str | os.PathLike, *, what: str, folder: str = "the folder") -> None:
    """Check that no symlink anywhere under ``root`` leads out of it (folders are walked without following links).

    For folders whose files are found by name and opened by libraries (an adapters folder: diffusers and peft open
    the weights), where each open cannot be routed through :func:`resolve_inside`.

    Args:
        root: the folder to walk.
        what: who holds the folder, for the message, e.g. ``"adapters folder /runs/t1/adapters"``.
        folder: what ``root`` is, for the message.

    Raises:
        MoraError: a symlink under ``root`` resolves outside it (the first one found, in sorted order).
    """
    base = Path(root)
    for current, folders, files in os.walk(base, followlinks=False):
        folders.sort()
        for entry in sorted(folders + files):
            path = Path(current) / entry
            if path.is_symlink():
                resolve_inside(base, path.relative_to(base), what=what, folder=folder)


__all__ = ["check_tree_inside", "is_inside", "resolve_inside", "servable_file"]
