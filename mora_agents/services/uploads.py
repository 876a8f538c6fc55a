"""Uploads: the one place an uploaded file gets its path and is saved, checked by content before anything sees it.

Every upload lands in a folder of its own under the workspace's ``uploads/`` (named by its owner: a video's id, an
upload's own id), or in a chat session's ``inputs/``; a name that would leave its folder is refused. A refused (or
cancelled) upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from mora_agents.errors import MoraError, disk_full_as_error

UPLOADS_DIR = "uploads"
"""The workspace's folder of uploads, one subfolder per owner."""

UPLOAD_SUFFIXES = {"image": (".png", ".jpg", ".jpeg", ".webp"), "video": (".mp4", ".mov", ".webm", ".mkv")}
"""The file suffixes an upload of each kind may have."""


def upload_suffix(filename: str | None, kind: str) -> str:
    """The file's suffix, if it is one a ``kind`` upload may have.

    Raises:
        MoraError: another suffix.
    """
    name = filename or ""
    suffix = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in UPLOAD_SUFFIXES[kind]:
        shown = name if len(name) <= 60 else "..." + name[-57:]
        raise MoraError(f"an {kind} upload must end in {', '.join(UPLOAD_SUFFIXES[kind])}, not '{shown}'")
    return suffix


class Uploads:
    """The uploads of one workspace.

    Args:
        workspace: the server's folder; uploads go to its ``uploads/``.
    """

    def __init__(self, workspace: Path) -> None:
        self.root = Path(workspace) / UPLOADS_DIR

    def job_input(self, data: bytes, kind: str, filename: str | None) -> Path:
        """A file for a job's image or video input (mora's job API): ``uploads/upload_<hex>/<kind><suffix>``.

        Raises:
            MoraError: a suffix a ``kind`` upload may not have, or the file is refused by its content.
        """
        suffix = upload_suffix(filename, kind)
        return self._save(self.folder("upload_" + secrets.token_hex(8)), f"{kind}{suffix}", data, kind,
                          f"upload {filename}")  # fmt: skip

    def form_input(self, source: Path, kind: str, name: str) -> Path:
        """A task form's file (the web page), copied for its input ``name``: ``uploads/web_<hex>/<name><suffix>``."""
        folder = self.folder(f"web_{secrets.token_hex(8)}")
        return self._save(folder, f"{name}{source.suffix.lower()}", source.read_bytes(), kind, f"input '{name}'")

    def reference_image(self, owner: str, filename: str, data: bytes) -> Path:
        """A video's reference image (the Videos API's ``input_reference``): ``uploads/<owner>/input_reference.*``."""
        suffix = Path(filename or "reference.png").suffix.lower()
        name = f"input_reference{suffix if suffix in UPLOAD_SUFFIXES['image'] else '.png'}"
        return self._save(self.folder(owner), name, data, "image", "input_reference")

    def source_video(self, owner: str, data: bytes) -> Path:
        """A video to extend or edit, sent as a file (the Videos API): ``uploads/<owner>/video.mp4``."""
        return self._save(self.folder(owner), "video.mp4", data, "video", "video")

    def session_input(self, inputs_dir: Path, number: int, data: bytes, kind: str, filename: str) -> Path:
        """A file given to a chat session, its ``number``-th artifact: ``<inputs_dir>/upload-NN-<hex><suffix>``.

        Raises:
            MoraError: a suffix a ``kind`` upload may not have, or the file is refused by its content.
        """
        suffix = upload_suffix(filename, kind)
        name = f"upload-{number:02d}-{secrets.token_hex(4)}{suffix}"
        return self._save(inputs_dir, name, data, kind, f"upload {Path(filename).name}")

    def folder(self, owner: str) -> Path:
        """The folder of ``owner``'s uploads (a job's or a video's id, an upload's own id).

        Raises:
            MoraError: ``owner`` is not one plain folder name.
        """
        return _inside(self.root, owner, "an upload folder")

    def discard(self, owner: str) -> None:
        """Remove ``owner``'s uploads, if any."""
        shutil.rmtree(self.folder(owner), ignore_errors=True)

    @contextlib.contextmanager
    def discarded_on_error(self, owner: str) -> Iterator[None]:
        """A request refused after its files were saved leaves none of them behind."""
        try:
            yield
        except BaseException:
            self.discard(owner)
            raise

    @staticmethod
    def _save(folder: Path, name: str, data: bytes, kind: str, what: str) -> Path:
        return save_upload(_inside(folder, name, "an upload"), data, kind, what)


def _inside(folder: Path, name: str, what: str) -> Path:
    # One name, no separator or "..": what is built here stays in its folder.
    if not name or name in (".", "..") or Path(name).name != name or "\x00" in name:
        raise MoraError(f"{what} must be one plain name, not {name[:60]!r}")
    return folder / name


def save_upload(path: Path, data: bytes, kind: str, what: str) -> Path:
    """Write an uploaded file and check it by content before anything else sees it: an image is decoded whole
    (its header's pixel count is capped first), a video's container header is read and capped. A bad one is
    removed and named in one sentence (``what``: how the request called it)."""
    from mora_agents.media_guard import check_media_file, check_video, read_image

    made = [folder for folder in (path.parent, *path.parent.parents) if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with disk_full_as_error(path.parent):  # the file itself goes below, whatever stopped it
            path.write_bytes(data)
        check_media_file(path, kind)
        read_image(path) if kind == "image" else check_video(path)
    except BaseException as error:
        # A refused (or cancelled) upload leaves nothing behind: its file and the folders made for it.
        path.unlink(missing_ok=True)
        for folder in made:  # innermost first
            with contextlib.suppress(OSError):
                folder.rmdir()
        if isinstance(error, MoraError):
            raise MoraError(f"{what}: {error}") from None
        raise
    return path


__all__ = ["UPLOADS_DIR", "UPLOAD_SUFFIXES", "Uploads", "save_upload", "upload_suffix"]
