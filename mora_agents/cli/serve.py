"""``mora serve``: the studio over HTTP (the web studio, the OpenAI Videos API, mora's job API)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from mora_agents.cli.options import DEFAULT_OPTIONS, SopDirOption, StudioOptions, studio_config, studio_options
from mora_agents.console import err, user_errors
from mora_agents.errors import MoraError


@user_errors
@studio_options
def serve(
    host: Annotated[str, typer.Option(help="Address to bind; any but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workspace: Annotated[
        Path, typer.Option(help="Folder for the job store (jobs.sqlite), run folders and uploads.")
    ] = Path("mora-serve"),
    profile: Annotated[str, typer.Option(help="Model profile of jobs that name none (tiny, paper, ...).")] = "tiny",
    review: Annotated[
        str, typer.Option(help="Review of Videos API jobs and jobs that ask for none: auto, or judge.")
    ] = "auto",
    judge: Annotated[
        list[str] | None, typer.Option(help="With --review judge: a judge spec (repeatable), e.g. metric.")
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="MORA_API_KEY", help="Require 'Authorization: Bearer KEY' on every request."),
    ] = None,
    options: StudioOptions = DEFAULT_OPTIONS,
    max_request_mb: Annotated[int, typer.Option(help="Largest request body (an upload included), in MiB.", min=1)] = 64,
    sop_dir: SopDirOption = None,
    web: Annotated[bool, typer.Option(help="The web studio at / (chat, review cards, task forms).")] = True,
) -> None:
    """Serve the studio over HTTP: the web studio, the OpenAI Videos API and the job API with review.

    The web studio is at /: open it in a browser.
    The OpenAI Videos API is at /v1/videos: point an OpenAI client's base_url at http://HOST:PORT/v1.
    mora's job API with human review is at /mora/v1, and the API docs are at /docs.
    Jobs survive restarts."""
    import ipaddress

    import uvicorn

    from mora_agents.serve.app import create_app
    from mora_agents.services.queue import JobQueue
    from mora_agents.supervisor import SERVE_CRASH_ENV
    from mora_tools.loading.profiles import load_profile

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not api_key:
        raise MoraError(f"binding {host} exposes the server beyond this machine: give --api-key (or MORA_API_KEY)")
    if review not in ("auto", "judge"):
        raise MoraError(f"--review must be auto or judge, not '{review}' (a person reviews jobs with review: human)")
    load_profile(profile)  # an unknown profile is named now, not at the first job
    config = studio_config(options, profile=profile, review=review, judges=judge)
    if options.engine == "ray":
        from mora_agents.cluster import shared_cluster

        # A wrong address fails before listening.
        err.print(shared_cluster(options.ray_address).summary(), highlight=False)

    queue = JobQueue(workspace, config, sop_dirs=list(sop_dir or []), crashed=os.environ.get(SERVE_CRASH_ENV))
    err.print(f"mora serve: http://{host}:{port} (workspace {queue.workspace}, profile {profile}); the studio at /, "
              "docs at /docs",
              highlight=False, soft_wrap=True)  # fmt: skip
    server = create_app(queue, api_key=api_key, max_request_bytes=max_request_mb * 1024 * 1024, web=web)
    uvicorn.run(server, host=host, port=port, log_level="warning")
