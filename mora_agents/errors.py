"""The one error type a user sees.

Every failure caused by input (a wrong path, a broken SOP file, missing weights, garbage from an LLM)
is raised as a :class:`MoraError` whose message is one sentence naming what and where; the CLI prints
that sentence and exits with :attr:`MoraError.exit_code`, never with a traceback.

A full disk is one of them: the writers of run and session files (:func:`mora_agents.workspace.write_text_atomic`,
the media writers of :mod:`mora_agents.media`, a session's transcript) go through :func:`disk_full_as_error`, which
turns the operating system's ``ENOSPC`` / ``EDQUOT`` into a :class:`DiskFullError` naming the folder.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
"""The ``errno`` values of a write that found no room: the disk is full, or the user's quota on it is used up."""


class MoraError(Exception):
    """A failure the user can fix; its message is one sentence that says what, where, and what to do."""

    exit_code: int = 2


class ModelUnavailableError(MoraError):
    """A model named by a profile is neither on disk nor downloadable."""


class ReviewError(MoraError):
    """A review decision could not be obtained or is not allowed at this stage."""


class CancelledError(MoraError):
    """The user cancelled a running stage."""

    exit_code = 130


class DiskFullError(MoraError):
    """A file could not be written: no space is left on the disk of ``folder`` (or the quota there is used up).

    The writer that hit it has already removed its temporary file; the file it was replacing is unchanged. The
    message ends with what to do next; a front end that knows more (which run to resume, and how) says so with
    :meth:`then`.

    Args:
        folder: the folder whose disk is full, as the user knows it (the run or session folder where known).
        next_step: what to do once space is freed, completing "free some space, then ...".
        quota: the user's disk quota is used up (``EDQUOT``) rather than the disk itself.
    """

    PREFIX = "no space left on the disk of "
    """How every such message starts: a reason stored as text (a job's ``error``) can be recognised by it."""

    def __init__(self, folder: str | os.PathLike, next_step: str = "try again", quota: bool = False) -> None:
        self.folder = Path(folder)
        self.next_step = next_step
        self.quota = quota
        where = f"{self.PREFIX}{self.folder}" + (" (the disk quota is used up)" if quota else "")
        super().__init__(f"{where}: free some space, then {next_step}")

    def __reduce__(self) -> tuple:
        # Pickled whole (a Ray actor's error, a child process's): the default would pass the message as the folder.
        return type(self), (self.folder, self.next_step, self.quota)

    def then(self, next_step: str, folder: str | os.PathLike | None = None) -> DiskFullError:
        """The same error with another next step (and folder): for a front end that knows how its work resumes.

        Example:
            ``raise error.then(f"run `mora generate --resume {run}` to continue", run) from None``
        """
        return DiskFullError(self.folder if folder is None else folder, next_step, self.quota)

    @classmethod
    def is_reason(cls, text: str | None) -> bool:
        """Whether a stored failure reason (a manifest's or a job's ``error``) is a full disk's."""
        return bool(text) and text.startswith(cls.PREFIX)


def is_disk_full(error: BaseException) -> bool:
    """Whether ``error`` is the operating system saying a write found no room (``ENOSPC``, ``EDQUOT``)."""
    return isinstance(error, DiskFullError) or (isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS)


def disk_full_error(error: OSError, folder: str | os.PathLike) -> DiskFullError:
    """The :class:`DiskFullError` for a disk-full ``error`` raised while writing into ``folder``."""
    return DiskFullError(folder, quota=error.errno == errno.EDQUOT)


@contextmanager
def disk_full_as_error(folder: str | os.PathLike, *, partial: str | os.PathLike | None = None) -> Iterator[None]:
    """The one place a full disk becomes a :class:`DiskFullError`: wrap every write into ``folder`` in it.

    Args:
        folder: where the write goes; the error names it.
        partial: a temporary file the write was making: removed when the block fails, whatever the error, so no
            half-written file is left behind.

    Raises:
        DiskFullError: the block raised ``OSError`` ``ENOSPC`` or ``EDQUOT``.
    """
    try:
        yield
    except BaseException as error:
        if partial is not None:
            # Best effort: the error being raised says what went wrong; a leftover that cannot go is no news.
            with suppress(OSError):
                Path(partial).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            raise disk_full_error(error, folder) from error
        raise


class NotFoundError(MoraError):
    """What a request names (a job, a video, a session, a file) does not exist: HTTP 404 on the server."""
