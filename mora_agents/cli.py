"""The ``mora`` command line (typer).

Every failure the user can fix prints one sentence and exits non-zero (2 for bad input, 130 when
cancelled); heavy libraries load only inside the commands that need them.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
import typer.core
from rich.markup import escape

from mora_agents import __version__
from mora_agents.console import LlmOption, RichProgress, err, out, user_errors
from mora_agents.errors import DiskFullError, MoraError, disk_full_error, is_disk_full
from mora_agents.learning.commands import learn_app

MAX_SEED = 2**63 - 1
"""The largest seed (:data:`mora_agents.messages.MAX_SEED`; not imported from there, so `mora --help` loads no
pydantic models)."""

app = typer.Typer(
    name="mora",
    help="A multi-agent video studio after the Mora paper: describe a video, agents make it, you review.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
DeviceOption = Annotated[str | None, typer.Option(help="Torch device (cuda, mps, cpu); default: the best found.")]
DtypeOption = Annotated[
    str | None,
    typer.Option(help="Precision overriding the profile's: float32, float16, bfloat16 (default: bf16/fp16 on GPU)."),
]
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory",
        help="What happens to a stage's models when it ends: free, offload (GPU: model CPU offload) or keep "
        "(reuse them in the next request); default: the profile's.",
    ),
]
CompileOption = Annotated[
    bool, typer.Option("--compile", help="torch.compile the denoisers on load (GPU: faster steps after a slow first).")
]
JudgeOption = Annotated[
    list[str] | None,
    typer.Option(
        help="With --review judge, a judge (repeatable): metric, 'metric:motion_smoothness=1,flicker=-1,"
        "threshold=0.6', openai, or openai:MODEL (MORA_JUDGE_* env); scripted answers or you break ties."
    ),
]
AdaptersOption = Annotated[
    Path | None,
    typer.Option(
        "--adapters",
        metavar="RUN",
        help="A `mora learn train` run folder (or its adapters/): generate with the LoRA weights and modulation "
        "embeddings it trained for A2 and A4.",
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        help="Where the models run: local (this process) or ray (each role's tool an actor on a Ray cluster; "
        'pip install "mora-agents\\[ray]").'
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="With --engine ray: the cluster to join (auto, HOST:PORT); default: the one `ray start` made on this "
        "machine, else a new local one.",
    ),
]
SopDirOption = Annotated[
    list[Path] | None,
    typer.Option("--sop-dir", help="Extra folder of SOP files (repeatable); overrides built-in and user tasks."),
]


@app.command()
@user_errors
def generate(
    task: Annotated[
        str | None, typer.Argument(help="Task (SOP) name, e.g. text-to-video (see `mora sop list`), or a .yaml.")
    ] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="Input 'prompt': the request text.")] = None,
    image: Annotated[Path | None, typer.Option(help="Input 'image': an image file.")] = None,
    video: Annotated[Path | None, typer.Option(help="Input 'video': a video file.")] = None,
    video2: Annotated[Path | None, typer.Option(help="Input 'video2': a second video (connect_videos).")] = None,
    duration: Annotated[float | None, typer.Option(help="Input 'duration' in seconds (default: the task's).")] = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="Any other input as key=value (repeatable).")
    ] = None,
    seed: Annotated[
        int, typer.Option(help="Base seed; same seed and profile give the same first frame.", min=0, max=MAX_SEED)
    ] = 0,
    profile: Annotated[
        str | None,
        typer.Option(
            help="Model profile: tiny (random weights, CPU), paper, or a .yaml (default: tiny; the run's "
            "with --resume)."
        ),
    ] = None,
    review: Annotated[
        str | None,
        typer.Option(
            help="Who reviews each stage: auto, console, scripted, or judge (default: auto; the run's with --resume)."
        ),
    ] = None,
    decision: Annotated[
        list[str] | None,
        typer.Option(help="A scripted review answer (repeat, in order): accept, regenerate, 'edit <instruction>'."),
    ] = None,
    judge: JudgeOption = None,
    llm: LlmOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    memory: MemoryOption = None,
    compile_: CompileOption = False,
    adapters: AdaptersOption = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for run folders.")] = Path("runs"),
    sop_dir: SopDirOption = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            metavar="RUN_DIR",
            help="Continue the run in this folder (after a crash, a kill or a full disk): "
            "its finished stages are kept, the rest run again.",
        ),
    ] = None,
) -> None:
    """Run a task: writes OUT/<run-id>/video.mp4, each stage's result and manifest.json."""
    import asyncio

    from autogen_core import CancellationToken

    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import REVIEW_MODES, ConsoleEvents, Studio, StudioConfig
    from mora_agents.workspace import Workspace, new_run_id

    if (task is None) == (resume is None):
        raise MoraError("give a task to run, or --resume RUN_DIR to continue a run (not both)")
    if resume is not None:
        recorded = Workspace(resume).load_manifest()
        # A server's run records its reviewer as "injected": resumed here, it is reviewed "auto" unless told.
        profile = profile or recorded.profile
        review = review or (recorded.review if recorded.review in REVIEW_MODES else None)
    else:
        spec = find_sop(task, sop_dir)
        flags = {"prompt": prompt, "image": image, "video": video, "video2": video2, "duration": duration}
        inputs = {
            name: str(value) if isinstance(value, Path) else value for name, value in flags.items() if value is not None
        }
        inputs.update(parse_key_values(input_ or []))
        request = VideoRequest(task=spec.name, inputs=inputs, seed=seed)
        run_id = new_run_id(spec.name)
    config = StudioConfig(
        profile=profile or "tiny",
        llm=llm,
        review=review or "auto",
        decisions=list(decision or []),
        judges=list(judge or []),
        device=device,
        dtype=dtype,
        memory=memory,
        compile=compile_,
        adapters=checked_adapters(adapters),
        engine=engine,
        ray_address=ray_address,
    )
    token = CancellationToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(token, previous))
    try:
        run_dir = resume or out_dir / run_id
        with RichProgress(err) as progress, resumable(run_dir, f"mora generate --resume {run_dir}"):
            studio = Studio(config)
            events = ConsoleEvents(progress)
            if resume is not None:
                run = studio.resume(resume, on_event=events, cancellation_token=token)
            else:
                run = studio.run(spec, request, out_dir, on_event=events, cancellation_token=token, run_id=run_id)
            workspace, manifest = asyncio.run(run)
    finally:
        signal.signal(signal.SIGINT, previous)
    for warning in manifest.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if manifest.output is not None:
        # soft_wrap: a path must print whole, whatever the terminal's width (scripts read these lines).
        out.print(
            f"{manifest.output.kind + ':':9} {workspace.path(manifest.output.path)}", highlight=False, soft_wrap=True
        )
    out.print(f"manifest: {workspace.path('manifest.json')}", highlight=False, soft_wrap=True)


@contextmanager
def resumable(folder: Path, command: str, *, marker: str = "manifest.json") -> Iterator[None]:
    """A full disk, raised anywhere in the block, as one sentence naming ``folder`` and what continues the work.

    The writers raise :class:`DiskFullError` themselves; a disk-full ``OSError`` from elsewhere (a folder made by
    ``mkdir``, a library's own write) becomes one here too. When ``folder`` holds ``marker`` (the work had started)
    the sentence says to run ``command`` (the ``--resume`` that continues it), else to run the command again.

    Raises:
        DiskFullError: the block ran out of disk space.
    """
    try:
        yield
    except DiskFullError as error:
        raise _resume_hint(error, folder, command, marker) from None
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise _resume_hint(disk_full_error(error, folder), folder, command, marker) from None


def _resume_hint(error: DiskFullError, folder: Path, command: str, marker: str) -> DiskFullError:
    if (folder / marker).is_file():
        return error.then(f"run `{command}` to continue", folder)
    return error.then("run the same command again")


def checked_adapters(path: Path | None) -> str | None:
    """The adapters folder ``--adapters`` names, checked before anything is created (one sentence if not)."""
    if path is None:
        return None
    from mora_tools.adapters import adapters_dir

    return str(adapters_dir(path))


def parse_key_values(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x y"]`` -> ``{"a": "1", "b": "x y"}``; anything else is a usage error."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MoraError(f"--input '{item}' is not key=value")
        values[key.strip()] = value
    return values


sop_app = typer.Typer(help="List, show and validate task (SOP) files.", no_args_is_help=True)
app.add_typer(sop_app, name="sop")


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


models_app = typer.Typer(help="Which models each profile needs, and which are on this machine.", no_args_is_help=True)
app.add_typer(models_app, name="models")


@models_app.command("list")
@user_errors
def models_list() -> None:
    """List the shipped profiles, each role's model and whether it is here (nothing is downloaded or built)."""
    from mora_tools.profiles import available_profiles, load_profile

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
    from mora_tools.profiles import load_profile

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

    from mora_tools.catalog import format_bytes, profile_status

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
app.add_typer(eval_app, name="eval")
app.add_typer(learn_app, name="learn")


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
    from mora_agents.evaluation import evaluate_run, evaluate_video, is_run_folder, parse_metrics, write_json

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

    from mora_agents.evaluation import NOT_COMPUTED, TASK_METRICS

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
    from mora_agents.evaluation import export_vbench

    for path in export_vbench(runs, out_dir):
        out.print(escape(str(path)), highlight=False)


@app.command("run")
@user_errors
def run_session(
    script: Annotated[
        Path | None, typer.Argument(help="Session script (.yaml) to replay; see examples/sessions.")
    ] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the session in this folder after a crash.")] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Session folder (default sessions/<name>-<time>).")
    ] = None,
    review: Annotated[
        str | None, typer.Option(help="Override the script's review: auto (accept all), scripted, or judge.")
    ] = None,
    judge: JudgeOption = None,
    profile: Annotated[str | None, typer.Option(help="Override the script's model profile.")] = None,
    llm: LlmOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    memory: MemoryOption = None,
    compile_: CompileOption = False,
    adapters: AdaptersOption = None,
    sop_dir: SopDirOption = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Replay a scripted multi-turn session, unattended: transcript, every run and its manifest in one folder."""
    import time

    from autogen_core import CancellationToken

    from mora_agents.conversation import Conversation
    from mora_agents.session import SCRIPT_FILE, SESSION_FILE, Session, SessionScript, script_files
    from mora_agents.studio import StudioConfig

    if (script is None) == (resume is None):
        raise MoraError("give a session script to replay, or --resume DIR to continue one (not both)")
    adapters_folder = checked_adapters(adapters)
    if resume is not None:
        session = Session.open(resume)
        script_path = resume / SCRIPT_FILE
    else:
        script_path = script
    spec = SessionScript.from_file(script_path)
    folder = resume or out_dir or Path("sessions") / f"{spec.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    # Resumable once its script and files are in: a session half made (a full disk) is none, so the same command
    # makes it again.
    resume_command = f"mora run --resume {folder}"
    if resume is None:
        # Checked before the session folder exists: a script naming a file outside its folder makes nothing.
        files = script_files(spec, script_path)
        with resumable(folder, resume_command, marker=SCRIPT_FILE):
            session = Session.create(folder, spec.name, base_dir=script_path.resolve().parent)
            try:
                session.import_files(files)
                write_copy(script_path, session.root / SCRIPT_FILE)
            except BaseException:
                (session.root / SESSION_FILE).unlink(missing_ok=True)
                raise
    config = StudioConfig(
        profile=profile or spec.profile,
        llm=llm or spec.llm,
        review=review or spec.review,
        judges=list(judge or spec.judges),
        device=device,
        dtype=dtype,
        memory=memory,
        compile=compile_,
        adapters=adapters_folder,
        engine=engine,
        ray_address=ray_address,
    )
    # The script's files were linked into the session's inputs/ on creation: replay and resume read only those.
    conversation = Conversation(session, config, sop_dir, session.inputs_dir, confine=True)
    token = CancellationToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(token, previous))
    try:
        with RichProgress(err) as progress, resumable(folder, resume_command, marker=SCRIPT_FILE):
            for index, turn in enumerate(spec.turns, start=1):
                _play_turn(conversation, index, turn, spec.seed + index - 1, progress, token)
    finally:
        signal.signal(signal.SIGINT, previous)
    for turn in session.record.turns:
        result = turn.question.question if turn.question else (turn.run_dir or "")
        out.print(f"turn {turn.index} [{turn.status}] {turn.text!r} -> {result}", highlight=False, markup=False)
    out.print(f"session: {session.root}", highlight=False)


@app.command()
@user_errors
def chat(
    session_dir: Annotated[Path | None, typer.Option("--session", help="New session folder.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the session in this folder.")] = None,
    review: Annotated[
        str, typer.Option(help="Who reviews each stage: console (you), auto, or judge (a panel; you break ties).")
    ] = "console",
    judge: JudgeOption = None,
    profile: Annotated[
        str, typer.Option(help="Model profile: tiny (random weights, CPU), paper, or a .yaml.")
    ] = "tiny",
    llm: LlmOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    memory: MemoryOption = None,
    compile_: CompileOption = False,
    adapters: AdaptersOption = None,
    sop_dir: SopDirOption = None,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Chat with the studio: describe videos, refer to earlier ones, answer reviews; /help lists commands."""
    import time

    from mora_agents.chat import ChatRepl
    from mora_agents.conversation import Conversation
    from mora_agents.session import SESSION_FILE, Session
    from mora_agents.studio import StudioConfig

    if review not in ("console", "auto", "judge"):
        raise MoraError(f"chat reviews are console, auto or judge, not '{review}'")
    adapters_folder = checked_adapters(adapters)
    folder = resume or session_dir or Path("sessions") / f"chat-{time.strftime('%Y%m%d-%H%M%S')}"
    with resumable(folder, f"mora chat --resume {folder}", marker=SESSION_FILE):
        session = Session.open(resume) if resume is not None else Session.create(folder, "chat")
    config = StudioConfig(
        profile=profile,
        llm=llm,
        review=review,
        judges=list(judge or []),
        device=device,
        dtype=dtype,
        memory=memory,
        compile=compile_,
        adapters=adapters_folder,
        engine=engine,
        ray_address=ray_address,
    )
    conversation = Conversation(session, config, sop_dir, Path.cwd())
    with resumable(folder, f"mora chat --resume {folder}", marker=SESSION_FILE):
        ChatRepl(conversation, out, lambda: RichProgress(err)).run()


def _play_turn(conversation, index: int, turn, seed: int, progress: RichProgress, token) -> None:
    import asyncio

    from mora_agents.studio import ConsoleEvents

    record = conversation.session.record
    # A judge panel's human part answers from the script too (prompt reviews, tie-breaks).
    decisions = turn.decisions if conversation.config.review in ("scripted", "judge") else []
    if index <= len(record.turns):
        existing = record.turns[index - 1]
        if existing.status in ("completed", "asked", "undone"):
            progress.log(f"turn {index}: kept from before ({existing.status})")
            return
        if existing.request is not None:
            asyncio.run(conversation.resume(existing, decisions, ConsoleEvents(progress), cancellation_token=token))
            return
        record.turns.pop()  # killed while routing: route it again
    progress.log(f"turn {index}: {turn.say}")

    def announce(request) -> None:
        progress.log(f"turn {index}: {request.explanation}")

    turn_run = conversation.take_turn(turn.say, seed=seed, decisions=decisions, on_event=ConsoleEvents(progress),
                                      cancellation_token=token, announce=announce)  # fmt: skip
    done = asyncio.run(turn_run)
    if done.question is not None:
        progress.log(f"turn {index}: director asks: {done.question.question}")


def write_copy(source: Path, target: Path) -> None:
    from mora_agents.workspace import write_text_atomic

    write_text_atomic(target, source.read_text(encoding="utf-8"))


def _cancel(token, previous) -> None:
    # First Ctrl-C: stop the running stage at its next step. A second one interrupts at once.
    err.print("[yellow]cancelling at the next step (Ctrl-C again to abort)...[/yellow]")
    token.cancel()
    signal.signal(signal.SIGINT, signal.default_int_handler)


@app.command()
@user_errors
def route(
    request: Annotated[str, typer.Argument(help="What you want, in your words, e.g. 'make it 4 seconds longer'.")],
    session: Annotated[
        Path | None,
        typer.Option(help="Session folder whose artifacts the request may refer to ('it', 'the first clip')."),
    ] = None,
    seed: Annotated[int, typer.Option(help="The seed the request gets.", min=0, max=MAX_SEED)] = 0,
    llm: Annotated[
        str | None,
        typer.Option(help="The LLM: embedded (default), openai (it then reads the turn), or none (MORA_LLM_BACKEND)."),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="Also say on stderr how the task was chosen: the plan, its confidence, why it asked.")
    ] = False,
    director: Annotated[
        str | None,
        typer.Option(
            help="How the turn is read: learned (the trained model; the default unless the LLM is openai) or llm "
            "(the LLM fills the plan) (MORA_DIRECTOR)."
        ),
    ] = None,
    sop_dir: SopDirOption = None,
) -> None:
    """Show what the director makes of a request: the task, its inputs, what it understood (``explanation``) and
    which words chose each clip (``bindings``), or its question, as JSON. Runs nothing."""
    import asyncio

    from autogen_agentchat.messages import StructuredMessage
    from autogen_core import CancellationToken

    from mora_agents.conversation import make_director
    from mora_agents.director import read_session_artifacts
    from mora_agents.messages import DirectorTurn

    if not request.strip():
        raise MoraError('the request is empty: say what you want, e.g. mora route "a corgi on a beach, 4 seconds"')
    artifacts = read_session_artifacts(session) if session is not None else []
    agent = make_director(llm, sop_dir, seed=seed, director=director)
    turn = StructuredMessage[DirectorTurn](
        content=DirectorTurn(text=request, artifacts=artifacts, seed=seed), source="user"
    )
    response = asyncio.run(agent.on_messages([turn], CancellationToken()))
    if explain:
        err.print(
            _explanation(response.chat_message.metadata, artifacts), highlight=False, markup=False, soft_wrap=True
        )
    typer.echo(response.chat_message.content.model_dump_json(indent=2))


def _explanation(metadata: dict[str, str], artifacts: list) -> str:
    """``route --explain``: the session as the director sees it, and how it decided (a resolver's plan, line by
    line: the task, each input with its probability, the confidence, why it asked)."""
    from mora_agents.director import TurnPlan, describe

    lines = [f"session: {describe(a, artifacts)}" for a in artifacts]
    plan = TurnPlan.model_validate_json(metadata["plan"])
    lines.append(f"plan ({plan.resolver}): {plan.task}, confidence {plan.confidence:.2f}")
    for bound in plan.bindings:
        if bound.artifact is not None:
            frame = f" ({bound.frame} frame)" if bound.frame else ""
            lines.append(f"  {bound.input} = #{bound.artifact}{frame}, p {bound.probability:.2f}, by {bound.how}")
        else:
            lines.append(f"  {bound.input} = {bound.file or bound.value!r} ({bound.how})")
    if plan.ranking:
        lines.append("  tasks: " + ", ".join(f"{task} {p:.2f}" for task, p in plan.ranking[:3]))
    if plan.question is not None:
        about = f" about {plan.question.input}" if plan.question.input else ""
        lines.append(f"asked{about}: {plan.question.reason}")
    return "\n".join(lines)


@app.command()
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
    """Check every embedded part (LLM, director model, tiny pipelines, ffmpeg, cache, GPU, weights), each in a
    child process: one line per part, the fix where one fails (exit 2)."""
    from mora_agents.doctor import doctor_command
    from mora_agents.errors import CancelledError

    try:
        code = doctor_command(only, as_json=json_output)
    except KeyboardInterrupt:
        raise CancelledError("mora doctor was cancelled") from None
    raise typer.Exit(code)


@app.command()
@user_errors
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
    llm: LlmOption = None,
    device: Annotated[str | None, typer.Option(help="Torch device (cuda, mps, cpu); default: the best found.")] = None,
    max_request_mb: Annotated[int, typer.Option(help="Largest request body (an upload included), in MiB.", min=1)] = 64,
    sop_dir: SopDirOption = None,
    web: Annotated[bool, typer.Option(help="The web studio at / (chat, review cards, task forms).")] = True,
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
) -> None:
    """Serve the studio over HTTP: the web studio at / (open it in a browser), the OpenAI Videos API at /v1/videos
    (point an OpenAI client's base_url at http://HOST:PORT/v1) and mora's job API with human review at /mora/v1;
    docs at /docs. Jobs survive restarts."""
    import ipaddress

    import uvicorn

    from mora_agents.serve.app import create_app
    from mora_agents.serve.queue import JobQueue
    from mora_agents.studio import StudioConfig
    from mora_tools.profiles import load_profile

    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback and not api_key:
        raise MoraError(f"binding {host} exposes the server beyond this machine: give --api-key (or MORA_API_KEY)")
    if review not in ("auto", "judge"):
        raise MoraError(f"--review must be auto or judge, not '{review}' (a person reviews jobs with review: human)")
    load_profile(profile)  # an unknown profile is named now, not at the first job
    config = StudioConfig(
        profile=profile,
        llm=llm,
        review=review,
        judges=list(judge or []),
        device=device,
        engine=engine,
        ray_address=ray_address,
    )
    from mora_agents.supervisor import SERVE_CRASH_ENV

    if engine == "ray":
        from mora_agents.cluster import shared_cluster

        err.print(shared_cluster(ray_address).summary(), highlight=False)  # a wrong address fails before listening

    queue = JobQueue(workspace, config, sop_dirs=list(sop_dir or []), crashed=os.environ.get(SERVE_CRASH_ENV))
    err.print(f"mora serve: http://{host}:{port} (workspace {queue.workspace}, profile {profile}); the studio at /, "
              "docs at /docs",
              highlight=False, soft_wrap=True)  # fmt: skip
    server = create_app(queue, api_key=api_key, max_request_bytes=max_request_mb * 1024 * 1024, web=web)
    uvicorn.run(server, host=host, port=port, log_level="warning")


@app.command()
@user_errors
def batch(
    requests: Annotated[
        Path,
        typer.Argument(
            help="A text file of prompts, one per line (text-to-video), or a YAML list of {task, inputs, seed}; "
            "image and video inputs are paths relative to it."
        ),
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Batch folder: one run folder per request, batch.json.")],
    seed: Annotated[int, typer.Option(help="Seed of the requests that give none.", min=0, max=MAX_SEED)] = 0,
    duration: Annotated[
        float | None, typer.Option(help="Seconds of the requests that give none (default: each task's).", min=0.1)
    ] = None,
    profile: Annotated[
        str, typer.Option(help="Model profile: tiny (random weights, CPU), paper, or a .yaml.")
    ] = "tiny",
    engine: EngineOption = "local",
    ray_address: RayAddressOption = None,
    parallel: Annotated[
        int | None,
        typer.Option(
            help="With --engine ray: requests in flight at once (default: all; they queue at each role).", min=1
        ),
    ] = None,
    llm: LlmOption = None,
    device: DeviceOption = None,
    dtype: DtypeOption = None,
    memory: MemoryOption = None,
    adapters: AdaptersOption = None,
    sop_dir: SopDirOption = None,
) -> None:
    """Run many requests unattended (review auto): OUT/001-<task>/ ... and OUT/batch.json (per request: status, run
    folder, sha256 of the output, seconds). Run it again into the same OUT to finish what did not complete."""
    import asyncio

    from autogen_core import CancellationToken

    from mora_agents.batch import BATCH_FILE, Batch, prefixed, read_requests
    from mora_agents.studio import ConsoleEvents, StudioConfig

    items = read_requests(requests, seed, sop_dir, duration)
    config = StudioConfig(
        profile=profile,
        llm=llm,
        review="auto",
        device=device,
        dtype=dtype,
        memory=memory,
        adapters=checked_adapters(adapters),
        engine=engine,
        ray_address=ray_address,
    )
    if engine == "ray":
        from mora_agents.cluster import shared_cluster

        err.print(shared_cluster(ray_address).summary(), highlight=False)
    token = CancellationToken()
    previous = signal.signal(signal.SIGINT, lambda *_: _cancel(token, previous))
    try:
        with RichProgress(err) as progress:
            console = ConsoleEvents(progress)
            job = Batch(items, out_dir, config, sop_dir, parallel, lambda i, event: console(prefixed(i, event)))
            results = asyncio.run(job.run(token))
    finally:
        signal.signal(signal.SIGINT, previous)
    for result in results:
        shown = result.output or result.error or ""
        out.print(f"{result.index:3d} [{result.status}] {result.seconds:.1f}s {shown}", highlight=False, markup=False)
    out.print(f"batch: {out_dir / BATCH_FILE}", highlight=False, soft_wrap=True)
    failed = [result for result in results if result.status != "completed"]
    if failed:
        raise typer.Exit(130 if all(r.status == "cancelled" for r in failed) else 1)


@app.command()
def version() -> None:
    """Print mora's version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point: model-loading commands run as a supervised child (:mod:`mora_agents.supervisor`),
    so a crash in native code ends in one sentence and a run marked ``failed``, not a silent exit."""
    from mora_agents import crash_report, supervisor

    if supervisor.wants_supervision(sys.argv[1:]):
        sys.exit(supervisor.supervise_cli(sys.argv[1:]))
    crash_report.enable()
    sys.exit(app(prog_name="mora"))


if __name__ == "__main__":
    main()
