"""The chat sessions of a server's workspace (``sessions/<id>/``, the folders ``mora chat`` makes), each open as one
:class:`~mora_agents.conversation.Conversation` that shares the server's director and loaded models.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from mora_agents.conversation import Conversation
from mora_agents.services.errors import SessionNotFound
from mora_agents.session import Session
from mora_agents.studio import StudioConfig
from mora_tools.loading.memory import ModelMemory

SESSIONS_DIR = "sessions"
"""The workspace's folder of chat sessions."""
SESSION_ID = re.compile(r"session_[A-Za-z0-9_-]{1,64}")
"""What a server's session id looks like (``session_`` + 16 hex digits when the server makes one)."""


class Conversations:
    """The sessions of ``workspace`` and their paths; one conversation per session.

    Args:
        workspace: the server's folder; sessions live in its ``sessions/``.
        config: the server's profile, LLM and device.
        sop_dirs: extra SOP folders (user tasks).
        memory: the server's loaded models, shared by every session.
    """

    def __init__(self, workspace: Path, config: StudioConfig, sop_dirs: list[Path], memory: ModelMemory) -> None:
        self.root = Path(workspace) / SESSIONS_DIR
        self.config = config
        self.sop_dirs = sop_dirs
        self.memory = memory
        self._director = None
        self._open: dict[str, Conversation] = {}

    def create(self, name: str = "chat") -> str:
        """A new, empty session; its id (``session_<hex>``)."""
        session_id = "session_" + secrets.token_hex(8)
        Session.create(self.root / session_id, name)
        return session_id

    def ids(self) -> list[str]:
        """The id of every session in the workspace."""
        return [f.name for f in self.root.glob("session_*") if (f / "session.json").is_file()]

    def get(self, session_id: str) -> Conversation:
        """The session ``session_id`` as a conversation, with the server's director and models.

        Raises:
            SessionNotFound: no such session, or an id no session of a server can have.
        """
        if session_id in self._open:
            return self._open[session_id]
        folder = self.folder(session_id)
        if not (folder / "session.json").is_file():
            raise SessionNotFound(f"no session {session_id}")
        conversation = Conversation(Session.open(folder), self.config, self.sop_dirs, base_dir=folder / "inputs",
                                    confine=True, memory=self.memory, director=self._director)  # fmt: skip
        self._director = conversation.director  # loaded once per server
        # One per session: a turn's job, the next turn and an upload all change the same session.json, through
        # one record, so none of them writes over another's change.
        self._open[session_id] = conversation
        return conversation

    def folder(self, session_id: str) -> Path:
        """The folder of session ``session_id`` (it may not exist).

        Raises:
            SessionNotFound: an id no session of a server can have.
        """
        if not SESSION_ID.fullmatch(session_id):  # a closed grammar: no path, no name too long for the disk
            shown = session_id if len(session_id) <= 40 else session_id[:37] + "..."
            raise SessionNotFound(
                f"no session {shown!r}: a session id is session_ and up to 64 letters, digits, - or _"
            )
        return self.root / session_id

    def run_dir(self, session_id: str, turn_run_dir: str) -> str:
        """A turn's run folder, relative to the workspace."""
        return f"{SESSIONS_DIR}/{session_id}/{turn_run_dir}"


__all__ = ["SESSIONS_DIR", "SESSION_ID", "Conversations"]
