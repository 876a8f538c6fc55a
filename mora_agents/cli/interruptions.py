"""What stops a command part-way, said in one sentence: Ctrl-C cancels at the next step, and a full disk names the
command that continues the work."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mora_agents.console import err
from mora_agents.errors import DiskFullError, disk_full_error, is_disk_full

if TYPE_CHECKING:
    from autogen_core import CancellationToken


@contextmanager
def ctrl_c_cancels() -> Iterator[CancellationToken]:
    """A cancellation token that the first Ctrl-C in the block cancels; a second one interrupts at once."""
    from autogen_core import CancellationToken

    token = CancellationToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(token, previous))
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, previous)


def _cancel(token: CancellationToken, previous) -> None:
    # First Ctrl-C: stop the running stage at its next step. A second one interrupts at once.
    err.print("[yellow]cancelling at the next step (Ctrl-C again to abort)...[/yellow]")
    token.cancel()
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def resumable(folder: Path, command: str, *, marker: str = "manifest.json") -> Iterator[None]:
    """A full disk, raised anywhere in the block, as one sentence naming ``folder`` and what continues the work.

    The writers raise :class:`DiskFullError` themselves; a disk-full ``OSError`` from elsewhere (a folder made by
    ``mkdir``, a library's own write) becomes one here too. When ``folder`` holds ``marker`` (the work had started)
    the sentence says to run ``command`` (the ``--resume`` that continues it), else to run the command again.

    Raises:
        DiskFullError: the block ran out of disk space.
    """
    try:
        yield
    except DiskFullError as error:
        raise _resume_hint(error, folder, command, marker) from None
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise _resume_hint(disk_full_error(error, folder), folder, command, marker) from None


def _resume_hint(error: DiskFullError, folder: Path, command: str, marker: str) -> DiskFullError:
    if (folder / marker).is_file():
        return error.then(f"run `{command}` to continue", folder)
    return error.then("run the same command again")
