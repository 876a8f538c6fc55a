"""``mora generate`` (run one task) and ``mora route`` (what the director makes of a request, running nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mora_agents.cli.interruptions import ctrl_c_cancels, resumable
from mora_agents.cli.options import (
    DEFAULT_OPTIONS,
    MAX_SEED,
    JudgeOption,
    SopDirOption,
    StudioOptions,
    studio_config,
    studio_options,
)
from mora_agents.console import RichProgress, err, out, user_errors
from mora_agents.errors import MoraError


@user_errors
@studio_options
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
    options: StudioOptions = DEFAULT_OPTIONS,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for run folders.")] = Path("runs"),
    sop_dir: SopDirOption = None,
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

    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import REVIEW_MODES, ConsoleEvents, Studio
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
    config = studio_config(
        options, profile=profile or "tiny", review=review or "auto", judges=judge, decisions=decision
    )
    run_dir = resume or out_dir / run_id
    with (
        ctrl_c_cancels() as token,
        RichProgress(err) as progress,
        resumable(run_dir, f"mora generate --resume {run_dir}"),
    ):
        studio = Studio(config)
        events = ConsoleEvents(progress)
        if resume is not None:
            run = studio.resume(resume, on_event=events, cancellation_token=token)
        else:
            run = studio.run(spec, request, out_dir, on_event=events, cancellation_token=token, run_id=run_id)
        workspace, manifest = asyncio.run(run)
    for warning in manifest.warnings:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if manifest.output is not None:
        # soft_wrap: a path must print whole, whatever the terminal's width (scripts read these lines).
        out.print(
            f"{manifest.output.kind + ':':9} {workspace.path(manifest.output.path)}", highlight=False, soft_wrap=True
        )
    out.print(f"manifest: {workspace.path('manifest.json')}", highlight=False, soft_wrap=True)


def parse_key_values(items: list[str]) -> dict[str, str]:
    """``["a=1", "b=x y"]`` -> ``{"a": "1", "b": "x y"}``; anything else is a usage error."""
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MoraError(f"--input '{item}' is not key=value")
        values[key.strip()] = value
    return values


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
    """Show what the director makes of a request, as JSON; runs nothing.

    The JSON holds the task and its inputs, or the question the director would ask instead.
    Its explanation field says what the director understood; its bindings say which words chose each clip."""
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
