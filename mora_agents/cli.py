"""The ``mora`` command line (typer).

Every failure the user can fix prints one sentence and exits non-zero (2 for bad input, 130 when
cancelled); heavy libraries load only inside the commands that need them.
"""

from __future__ import annotations

import functools
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mora_agents import __version__
from mora_agents.errors import MoraError

app = typer.Typer(
    name="mora",
    help="A multi-agent video studio after the Mora paper: describe a video, agents make it, you review.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
err = Console(stderr=True)
out = Console()


def user_errors(command):
    """Print a :class:`MoraError` as one sentence and exit with its code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MoraError as error:
            err.print(f"[bold red]error:[/bold red] {error}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper


class RichProgress:
    """A :class:`tools.progress.ProgressSink` drawn as one rich bar per stage."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.fields[stage]}[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def start(self, stage: str, total: int, description: str = "") -> None:
        self._tasks[stage] = self._progress.add_task(description, total=total, stage=stage)

    def advance(self, stage: str, steps: int = 1) -> None:
        if stage in self._tasks:
            self._progress.advance(self._tasks[stage], steps)

    def finish(self, stage: str) -> None:
        task = self._tasks.pop(stage, None)
        if task is not None:
            self._progress.update(task, completed=self._progress.tasks[task].total)

    def log(self, line: str) -> None:
        self._progress.console.print(line, highlight=False, markup=False)


@app.command()
@user_errors
def generate(
    task: Annotated[str, typer.Argument(help="Task (SOP) name, e.g. text-to-video, or an SOP .yaml file.")],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="What the video should show.")],
    duration: Annotated[float, typer.Option(help="Video length in seconds.", min=0.1, max=600)] = 4.0,
    seed: Annotated[int, typer.Option(help="Base seed; same seed and profile give the same first frame.", min=0)] = 0,
    profile: Annotated[
        str, typer.Option(help="Model profile: tiny (random weights, CPU), paper, or a .yaml.")
    ] = "tiny",
    review: Annotated[str, typer.Option(help="Who reviews each stage: auto, console, or scripted.")] = "auto",
    decision: Annotated[
        list[str] | None,
        typer.Option(help="A scripted review answer (repeat, in order): accept, regenerate, 'edit <instruction>'."),
    ] = None,
    llm: Annotated[str | None, typer.Option(help="Prompt LLM: embedded (default) or openai (MORA_LLM_* env).")] = None,
    device: Annotated[str | None, typer.Option(help="Torch device (cuda, mps, cpu); default: the best found.")] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for run folders.")] = Path("runs"),
) -> None:
    """Run a task: writes OUT/<run-id>/video.mp4, the first-frame PNG and manifest.json."""
    from autogen_core import CancellationToken

    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import StudioConfig, run_task

    spec = find_sop(task)
    inputs = {"prompt": prompt, "duration": duration}
    request = VideoRequest(task=spec.name, inputs={k: v for k, v in inputs.items() if k in spec.inputs}, seed=seed)
    config = StudioConfig(profile=profile, llm=llm, review=review, decisions=list(decision or []), device=device)
    token = CancellationToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(token, previous))
    try:
        with RichProgress(err) as progress:
            workspace, manifest = run_task(spec, request, out_dir, config, progress, progress.log, token)
    finally:
        signal.signal(signal.SIGINT, previous)
    for warning in manifest.warnings:
        err.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    out.print(f"video:    {workspace.path(manifest.output.path)}", highlight=False)
    out.print(f"manifest: {workspace.path('manifest.json')}", highlight=False)


def _cancel(token, previous) -> None:
    # First Ctrl-C: stop the running stage at its next step. A second one interrupts at once.
    err.print("[yellow]cancelling at the next step (Ctrl-C again to abort)...[/yellow]")
    token.cancel()
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
def version() -> None:
    """Print mora's version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point."""
    sys.exit(app())


if __name__ == "__main__":
    main()
