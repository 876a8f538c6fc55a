"""``mora sop``: list, show and validate task (SOP) files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mora_agents.cli.options import SopDirOption
from mora_agents.console import err, out, user_errors
from mora_agents.errors import MoraError

sop_app = typer.Typer(help="List, show and validate task (SOP) files.", no_args_is_help=True)


@sop_app.command("list")
@user_errors
def sop_list(sop_dir: SopDirOption = None) -> None:
    """List the tasks on the search path (built-in, ~/.config/mora/sop, --sop-dir) and where each comes from."""
    from mora_agents.sop import SopSpec, list_sops

    entries = sorted(list_sops(sop_dir).items())
    width = max((len(name) for name, _ in entries), default=0)
    for name, entry in entries:
        try:
            description = SopSpec.from_file(entry.path).description
        except MoraError as error:
            description = f"INVALID: {error}"
        origin = entry.origin + (f" (overrides {len(entry.overrides)}: {', '.join(map(str, entry.overrides))})"
                                 if entry.overrides else "")  # fmt: skip
        out.print(f"{name:<{width}}  {origin}  {entry.path}", markup=False, highlight=False, soft_wrap=True)
        out.print(f"{'':<{width}}  {description}", markup=False, highlight=False, soft_wrap=True)


@sop_app.command("show")
@user_errors
def sop_show(
    name: Annotated[str, typer.Argument(help="Task name or .yaml file.")], sop_dir: SopDirOption = None
) -> None:
    """Show a task's inputs and steps."""
    from mora_agents.sop import find_sop

    spec = find_sop(name, sop_dir)
    out.print(f"[bold]{escape(spec.name)}[/bold]: {escape(spec.description)}")
    out.print("[bold]inputs[/bold]")
    for key, item in spec.inputs.items():
        extra = "required" if item.required else f"default {item.default!r}" if item.default is not None else "optional"
        choices = f" {{{', '.join(item.choices)}}}" if item.choices else ""
        out.print(f"  {key}: {item.type}{choices}, {extra}. {item.description}", highlight=False, markup=False)
    out.print("[bold]steps[/bold]")
    for step in spec.steps:
        bindings = ", ".join(f"{k}={v}" for k, v in step.bindings.items())
        review = f" [review x{step.review.max_iterations}]" if step.review else ""
        when = f" when {step.when}" if step.when else ""
        out.print(f"  {step.id}: {step.role}({bindings}){review}{when}", highlight=False, markup=False)
    output = spec.output if isinstance(spec.output, str) else "join " + " + ".join(spec.output.join)
    out.print("[bold]output[/bold]: ", end="")
    out.print(output, highlight=False, markup=False)
    if spec.examples:
        out.print("[bold]examples[/bold]: " + escape(" | ".join(spec.examples)), highlight=False)


@sop_app.command("validate")
def sop_validate(files: Annotated[list[Path], typer.Argument(help="SOP files to check.")]) -> None:
    """Check SOP files; print one line per file, and exit 2 if any is broken."""
    from mora_agents.sop import SopSpec

    broken = 0
    for path in files:
        try:
            spec = SopSpec.from_file(path)
        except MoraError as error:
            broken += 1
            err.print(f"[red]invalid[/red] {escape(str(error))}", highlight=False, soft_wrap=True)
            continue
        out.print(f"[green]ok[/green]      {escape(str(path))} ({spec.name}: {len(spec.steps)} steps)", highlight=False)
    if broken:
        raise typer.Exit(2)
