"""Files the web page shows: checked by the one serving check, then handed to Gradio as copies in its cache.

The page's Gradio app is given no ``allowed_paths``: nothing of the workspace (``jobs.sqlite``, sessions, uploads)
can be fetched through ``/gradio_api/file=``. A result the page shows goes through
:func:`~mora_agents.containment.servable_file` against its run (or session) folder, so a link out of it is never
shown, and is copied into Gradio's upload cache, which is what the browser then fetches (Gradio copies every file
it shows into that cache anyway; this makes the copy after our check instead of after its own).
"""

from __future__ import annotations

import logging
from pathlib import Path

from mora_agents.containment import servable_file
from mora_agents.errors import NotFoundError

logger = logging.getLogger(__name__)


def shown_file(path: str | None, root: Path | None) -> str | None:
    """The copy of ``path`` (a file of ``root``) that the page may show, or ``None`` when it may not be served."""
    if path is None or root is None:
        return None
    from gradio.processing_utils import save_file_to_cache
    from gradio.utils import get_upload_folder

    try:
        checked = servable_file(root, path, what=f"folder {root.name}", absolute=True)
    except NotFoundError as error:
        logger.warning("the studio page does not show %s: %s", path, error)
        return None
    return save_file_to_cache(checked, get_upload_folder())


def shown_files(paths: list[str], root: Path | None) -> list[str]:
    """:func:`shown_file` of each path, leaving out those that may not be served."""
    return [copy for copy in (shown_file(path, root) for path in paths) if copy is not None]


__all__ = ["shown_file", "shown_files"]
