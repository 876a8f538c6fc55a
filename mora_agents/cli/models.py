"""``mora models``: which models each profile needs, and which are on this machine."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mora_agents.console import err, out, user_errors
from mora_agents.errors import MoraError

models_app = typer.Typer(help="Which models each profile needs, and which are on this machine.", no_args_is_help=True)


@models_app.command("list")
@user_errors
def models_list() -> None:
    """List the shipped profiles, each role's model and whether it is here (nothing is downloaded or built)."""
    from mora_tools.loading.profiles import available_profiles, load_profile

    for name in available_profiles():
        profile = load_profile(name)
        out.print(f"[bold]{escape(name)}[/bold] ({profile.source}, memory: {profile.memory.policy}): "
                  f"{escape(profile.description)}", highlight=False, soft_wrap=True)  # fmt: skip
        _print_model_table(profile)


@models_app.command("check")
@user_errors
def models_check(
    profile: Annotated[str, typer.Argument(help="Profile name (see `mora models list`) or a profile .yaml.")],
) -> None:
    """Check that every model PROFILE needs is on this machine; list what is missing and how to get it (exit 2)."""
    from mora_tools.loading.profiles import load_profile

    statuses = _print_model_table(load_profile(profile))
    missing = [status for status in statuses if not status.available]
    for status in missing:
        err.print(f"[red]missing[/red] {escape(status.reference)} ({status.role}): {escape(status.remedy or '')}",
                  highlight=False, soft_wrap=True)  # fmt: skip
    if missing:
        raise MoraError(f"{len(missing)} of {len(statuses)} models of profile '{profile}' are missing (listed above)")
    out.print(f"profile '{escape(profile)}': all {len(statuses)} models are available", highlight=False)


def _print_model_table(profile) -> list:
    from rich.table import Table

    from mora_tools.loading.catalog import format_bytes, profile_status

    statuses = profile_status(profile)
    table = Table(box=None, pad_edge=False)
    for column in ("role", "model", "state", "size", "where"):
        # Folded, not cut with an ellipsis: a model id or a folder is useless half-printed.
        table.add_column(column, overflow="fold", no_wrap=column in ("state", "size"))
    colours = {"present": "green", "buildable": "cyan", "missing": "red"}
    for status in statuses:
        state = f"[{colours[status.state]}]{status.state}[/{colours[status.state]}]"
        where = status.location or ""
        table.add_row(status.role, escape(status.reference), state, format_bytes(status.size_bytes), escape(where))
    out.print(table)
    return statuses
