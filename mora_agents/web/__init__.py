"""The web studio: a Gradio page mounted at ``/`` of ``mora serve`` (see :mod:`mora_agents.web._page`).

A front end beside the HTTP APIs: it acts only through the services (:mod:`mora_agents.services`), never through
the HTTP server's internals; :mod:`mora_agents.serve` mounts it.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI

from mora_agents.services.jobs import JobService
from mora_agents.services.sessions import SessionService


def mount_studio(app: FastAPI, jobs: JobService, sessions: SessionService, api_key: str | None = None) -> FastAPI:
    """Mount the studio page at ``/`` of ``app``. With an API key the page asks for it once (as the password;
    any user name), the same key the APIs take as ``Authorization: Bearer``."""
    import gradio as gr

    from mora_agents.web._page import CSS, build_page

    def knows_the_key(user: str, password: str) -> bool:
        return api_key is not None and hmac.compare_digest(password.encode(), api_key.encode())

    return gr.mount_gradio_app(
        # No allowed_paths: nothing of the workspace is fetched directly; results are shown as checked copies
        # (mora_agents.web._shown). Uploads larger than the server's cap are refused by its body limit.
        app, build_page(jobs, sessions), path="/", css=CSS,
        auth=knows_the_key if api_key else None, auth_message="The server's API key (any user name).",
        footer_links=[], show_error=True,
    )  # fmt: skip


__all__ = ["mount_studio"]
