"""``mora chat``: a terminal conversation with the studio."""

from mora_agents.chat._repl import ChatRepl

__all__ = ["ChatRepl"]
