"""What every command-line front end shares: the two consoles, one-sentence errors, rich progress bars."""

from __future__ import annotations

import functools
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from mora_agents.errors import MoraError

LlmOption = Annotated[
    str | None,
    typer.Option(help="Prompt LLM: embedded (SmolLM2, the default), embedded:gemma3, or openai (MORA_LLM_* env)."),
]
"""The ``--llm`` option of every command that runs A1 or the director."""

err = Console(stderr=True)
out = Console()


def user_errors(command):
    """Print a :class:`MoraError` as one sentence and exit with its code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except MoraError as error:
            err.print(f"[bold red]error:[/bold red] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None

    return wrapper


class RichProgress:
    """A :class:`mora_tools.pipelines.progress.ProgressSink` drawn as one rich bar per stage."""

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
        # The bar stays where the steps left it: full when the stage ran through, short when cancelled.
        self._tasks.pop(stage, None)

    def log(self, line: str) -> None:
        self._progress.console.print(line, highlight=False, markup=False)


__all__ = ["LlmOption", "RichProgress", "err", "out", "user_errors"]
