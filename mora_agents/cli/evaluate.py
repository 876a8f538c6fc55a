"""``mora eval``: score a video or a run folder with the paper's metrics, or export runs for VBench."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.markup import escape

from mora_agents.cli.options import DeviceOption
from mora_agents.console import out, user_errors
from mora_agents.errors import MoraError


class _DefaultCommandGroup(typer.core.TyperGroup):
    """A group whose first argument, when it names no subcommand, goes to a default one: ``mora eval VIDEO`` runs
    ``mora eval score VIDEO`` while ``mora eval export-vbench ...`` stays a subcommand.

    Click parses a group's own arguments before the subcommand name, so an optional path argument on the group's
    callback would swallow ``export-vbench``; routing in ``parse_args`` keeps both spellings without that clash.
    """

    default_command = "score"

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=_DefaultCommandGroup,
    help="Score a video or a run folder with the paper's metrics (`mora eval VIDEO_OR_RUN_DIR`), or export runs for "
    "the official VBench (`mora eval export-vbench`).",
    no_args_is_help=True,
)


@eval_app.command("score")
@user_errors
def eval_score(
    target: Annotated[Path, typer.Argument(help="A video file, or a run folder (its task picks the metrics).")],
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="The prompt the video was made from.")] = None,
    image: Annotated[Path | None, typer.Option(help="The input image (VideoTI mixes its caption in).")] = None,
    input_video: Annotated[
        list[Path] | None,
        typer.Option("--input-video", help="Input clip: once for TCON, twice (before, after) for Tmean."),
    ] = None,
    metrics: Annotated[
        str | None, typer.Option(help="Comma-separated metrics instead of the task's, e.g. flicker,seam_drift.")
    ] = None,
    metrics_profile: Annotated[
        str, typer.Option(help="Metrics profile: real (needs the models here), tiny (random weights), or a .yaml.")
    ] = "real",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the results to this JSON file.")] = None,
    device: DeviceOption = None,
) -> None:
    """Score a video (or a run folder's output, stored in its manifest) and print a table of the metrics."""
    from mora_agents.evaluation.evaluate import evaluate_run, evaluate_video
    from mora_agents.evaluation.record import write_json
    from mora_agents.evaluation.run_folder import is_run_folder
    from mora_agents.evaluation.selection import parse_metrics

    names = parse_metrics(metrics)
    if is_run_folder(target):
        record = evaluate_run(target, metrics=names, metrics_profile=metrics_profile, prompt=prompt, image=image,
                              input_videos=input_video or [], device=device)  # fmt: skip
        where = f"{target / 'manifest.json'} (evaluation)"
    elif target.is_dir():
        raise MoraError(f"{target} is a folder without manifest.json: give a video file or a run folder")
    else:
        record = evaluate_video(target, prompt=prompt, image=image, input_videos=input_video or [], metrics=names,
                                metrics_profile=metrics_profile, device=device)  # fmt: skip
        where = None
    if json_out is not None:
        write_json(record, json_out)
    _print_evaluation(record)
    if where:
        out.print(f"written to {escape(where)}", highlight=False)
    if json_out is not None:
        out.print(f"json: {escape(str(json_out))}", highlight=False)


def _print_evaluation(record) -> None:
    from rich.table import Table

    from mora_agents.evaluation.selection import NOT_COMPUTED, TASK_METRICS

    table = Table(title=f"{record.video} (metrics profile {record.metrics_profile})", box=None, pad_edge=False)
    table.add_column("metric", no_wrap=True)
    table.add_column("value", no_wrap=True, justify="right")
    table.add_column("range", no_wrap=True)
    table.add_column("method", overflow="fold")
    for name, result in record.metrics.items():
        lo, hi = (
            "-inf" if v is None and i == 0 else "inf" if v is None else f"{v:g}" for i, v in enumerate(result.range)
        )
        value = f"{result.value:.4f}" if result.value is not None else "[yellow]n/a[/yellow]"
        method = (
            escape(result.method) if result.value is not None else f"[yellow]{escape(result.reason or '')}[/yellow]"
        )
        table.add_row(name, value, f"[{lo}, {hi}]", method)
    out.print(table)
    if "video_quality" in record.metrics or record.task in TASK_METRICS:
        # Every task of the paper reports imaging_quality: say once, on one line, why its row is not there.
        note = f"{NOT_COMPUTED['imaging_quality']}; video_quality is the mean of the other five VBench dimensions."
        out.print(f"[yellow]note:[/yellow] {escape(note)}", highlight=False, soft_wrap=True)


@eval_app.command("export-vbench")
@user_errors
def eval_export_vbench(
    runs: Annotated[list[Path], typer.Argument(help="Run folders whose output videos to export.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the videos (VBench's --videos_path).")],
) -> None:
    """Lay run outputs out as VBench names sampled videos, `OUT/{prompt}-{index}.mp4`, for `vbench evaluate`."""
    from mora_agents.evaluation.vbench import export_vbench

    for path in export_vbench(runs, out_dir):
        out.print(escape(str(path)), highlight=False)
