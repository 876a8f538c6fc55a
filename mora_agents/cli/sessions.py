"""``mora run`` (replay a scripted multi-turn session) and ``mora chat`` (talk to the studio)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from mora_agents.cli.interruptions import ctrl_c_cancels, resumable
from mora_agents.cli.options import (
    DEFAULT_OPTIONS,
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
    options: StudioOptions = DEFAULT_OPTIONS,
    sop_dir: SopDirOption = None,
) -> None:
    """Replay a scripted multi-turn session, unattended: transcript, every run and its manifest in one folder."""
    import time

    from mora_agents.conversation import Conversation
    from mora_agents.session import SCRIPT_FILE, SESSION_FILE, Session, SessionScript, script_files

    if (script is None) == (resume is None):
        raise MoraError("give a session script to replay, or --resume DIR to continue one (not both)")
    if resume is not None:
        session = Session.open(resume)
        script_path = resume / SCRIPT_FILE
    else:
        script_path = script
    spec = SessionScript.from_file(script_path)
    # Checked (the adapters folder) before the session folder exists.
    config = studio_config(
        replace(options, llm=options.llm or spec.llm),
        profile=profile or spec.profile,
        review=review or spec.review,
        judges=judge or spec.judges,
    )
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
    # The script's files were linked into the session's inputs/ on creation: replay and resume read only those.
    conversation = Conversation(session, config, sop_dir, session.inputs_dir, confine=True)
    with (
        ctrl_c_cancels() as token,
        RichProgress(err) as progress,
        resumable(folder, resume_command, marker=SCRIPT_FILE),
    ):
        for index, turn in enumerate(spec.turns, start=1):
            _play_turn(conversation, index, turn, spec.seed + index - 1, progress, token)
    for turn in session.record.turns:
        result = turn.question.question if turn.question else (turn.run_dir or "")
        out.print(f"turn {turn.index} [{turn.status}] {turn.text!r} -> {result}", highlight=False, markup=False)
    out.print(f"session: {session.root}", highlight=False)


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
    """Copy the text file ``source`` to ``target``, atomically."""
    from mora_agents.workspace import write_text_atomic

    write_text_atomic(target, source.read_text(encoding="utf-8"))


@user_errors
@studio_options
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
    options: StudioOptions = DEFAULT_OPTIONS,
    sop_dir: SopDirOption = None,
) -> None:
    """Chat with the studio: describe videos, refer to earlier ones, answer reviews; /help lists commands."""
    import time

    from mora_agents.chat import ChatRepl
    from mora_agents.conversation import Conversation
    from mora_agents.session import SESSION_FILE, Session

    if review not in ("console", "auto", "judge"):
        raise MoraError(f"chat reviews are console, auto or judge, not '{review}'")
    # Checked (the adapters folder) before the session folder exists.
    config = studio_config(options, profile=profile, review=review, judges=judge)
    folder = resume or session_dir or Path("sessions") / f"chat-{time.strftime('%Y%m%d-%H%M%S')}"
    with resumable(folder, f"mora chat --resume {folder}", marker=SESSION_FILE):
        session = Session.open(resume) if resume is not None else Session.create(folder, "chat")
    conversation = Conversation(session, config, sop_dir, Path.cwd())
    with resumable(folder, f"mora chat --resume {folder}", marker=SESSION_FILE):
        ChatRepl(conversation, out, lambda: RichProgress(err)).run()
