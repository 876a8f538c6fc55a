"""The lowest layer of the model side: where mora keeps what it builds (each build appears whole, through
:func:`mora_agents.atomic_files.write_atomically`), and the libraries' own progress output switched off.

Everything in :mod:`mora_tools` may import this module; it imports nothing of mora's (and no torch at import time).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Where mora keeps built models: ``$MORA_CACHE_DIR`` or ``~/.cache/mora``."""
    return Path(os.environ.get("MORA_CACHE_DIR") or Path.home() / ".cache" / "mora")


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
