"""``mora doctor``: check every embedded part, each in a child process."""

from __future__ import annotations

from typing import Annotated

import typer

from mora_agents.console import user_errors


@user_errors
def doctor(
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            metavar="CHECK",
            help="Run only this check (repeatable): cpu, accelerator, cache, ffmpeg, llm, director, pipelines, "
            "profiles.",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as one JSON object.")] = False,
) -> None:
    """Check every embedded part: one line per part, and the fix where one fails (exit 2).

    The parts: the LLM, the director's model, the tiny pipelines, ffmpeg, the cache, the GPU and the weights.
    Each is checked in a child process, so a part that crashes is reported and the others still run."""
    from mora_agents.doctor import doctor_command
    from mora_agents.errors import CancelledError

    try:
        code = doctor_command(only, as_json=json_output)
    except KeyboardInterrupt:
        raise CancelledError("mora doctor was cancelled") from None
    raise typer.Exit(code)
