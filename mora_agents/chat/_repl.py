"""The chat loop: read a line, run a slash command or a turn, show what came of it.

Turns go through :class:`~mora_agents.conversation.Conversation`, so a chat leaves the same session
folder as a replayed script, and ``mora chat --resume DIR`` continues either.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

from autogen_core import CancellationToken
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mora_agents.conversation import Conversation
from mora_agents.director import artifact_label, made_from
from mora_agents.errors import CancelledError, DiskFullError, MoraError
from mora_agents.messages import VideoRequest
from mora_agents.studio import ConsoleEvents

HELP = """\
Describe a video, or point at earlier ones: by position ("the second clip", "#3", "the one before last"), by
what they show ("make the kite one snowy"), or "it" ("keep it going for 2 more seconds").
Commands: /list (artifacts), /open N, /undo (forget the last result), /sop (tasks), /help, /quit.
Ctrl-C while a video is being made cancels it and brings you back here."""


class ChatRepl:
    """A terminal chat over a :class:`Conversation`.

    Args:
        conversation: the session, director and studio settings.
        console: where to talk.
        make_progress: builds a progress sink (a context manager with ``log``) for each turn.
        read: reads one line from the user (``console.input`` by default; tests pass their own).
    """

    def __init__(
        self,
        conversation: Conversation,
        console: Console,
        make_progress: Callable,
        read: Callable[[str], str] | None = None,
    ) -> None:
        self.conversation = conversation
        self.console = console
        self.make_progress = make_progress
        self.read = read or (lambda prompt: console.input(prompt))
        self.commands = {
            "/list": self.list_artifacts,
            "/open": self.open_artifact,
            "/undo": self.undo,
            "/sop": self.list_tasks,
            "/help": lambda _: self.say(HELP),
        }

    def say(self, text: str, style: str = "") -> None:
        self.console.print(f"[{style}]{escape(text)}[/{style}]" if style else escape(text), highlight=False)

    def run(self) -> None:
        """Talk until /quit or end of input."""
        self.say(f"mora chat - session {self.conversation.session.root}", "bold")
        self.say(HELP)
        self.finish_interrupted_turn()
        while True:
            try:
                line = self.read("you> ").strip()
            except EOFError:
                break
            except KeyboardInterrupt:
                self.say("(type /quit to leave)")
                continue
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            command, _, argument = line.partition(" ")
            if command in self.commands:
                self.commands[command](argument.strip())
            elif command.startswith("/"):
                self.say(f"unknown command {command}: try /help", "yellow")
            else:
                self.turn(line)
        self.say("bye", "bold")

    def finish_interrupted_turn(self) -> None:
        turns = self.conversation.session.record.turns
        # A turn the disk stopped counts as interrupted: the sentence said `mora chat --resume` continues it.
        stopped = turns and turns[-1].status == "failed" and DiskFullError.is_reason(turns[-1].error)
        if turns and (turns[-1].status in ("running", "routed") or stopped) and turns[-1].request is not None:
            self.say(f"finishing turn {turns[-1].index}, interrupted last time: {turns[-1].text}", "bold")
            self._guarded(lambda token, events: self.conversation.resume(
                turns[-1], on_event=events, cancellation_token=token))  # fmt: skip

    def turn(self, text: str) -> None:
        seed = len(self.conversation.session.record.turns)
        done = self._guarded(lambda token, events: self.conversation.take_turn(
            text, seed=seed, on_event=events, cancellation_token=token,
            announce=self.announce))  # fmt: skip
        if done is None:
            return
        if done.question is not None:
            self.say(f"studio> {done.question.question}", "cyan")
            return
        artifact = next((a for a in reversed(self.conversation.session.record.artifacts) if a.turn == done.index), None)
        task = done.request.task if done.request else "?"
        where = f"#{artifact.index} {artifact.path}" if artifact else "(no file)"
        self.say(f"studio> {task} done: {where}", "green")

    def announce(self, request: VideoRequest) -> None:
        """What the director understood, said before the run starts: "studio> extend clip 2 (...) by 2 s"."""
        self.say(f"studio> {request.explanation or request.task}", "bold cyan")

    def _guarded(self, work):
        """Run one turn with Ctrl-C bound to cancelling it; report failures and stay in the chat."""
        token = CancellationToken()
        previous = signal.signal(signal.SIGINT, lambda *_: token.cancel())
        try:
            with self.make_progress() as progress:
                # The chat's edge: each turn's coroutine runs here, its events drawn as bars and lines.
                return asyncio.run(work(token, ConsoleEvents(progress)))
        except CancelledError:
            self.say("cancelled; the turn's finished stages are kept in its run folder", "yellow")
        except MoraError as error:
            self.say(f"error: {error}", "red")
        finally:
            signal.signal(signal.SIGINT, previous)
        return None

    def list_artifacts(self, _: str) -> None:
        artifacts = self.conversation.session.record.artifacts
        if not artifacts:
            self.say("no artifacts yet")
            return
        table = Table("#", "name", "turn", "made", "what", "file")
        for a in artifacts:
            name = artifact_label(a, artifacts)
            table.add_row(str(a.index), name, str(a.turn), made_from(a), escape(a.prompt or ""), escape(a.path))
        self.console.print(table)

    def open_artifact(self, argument: str) -> None:
        artifacts = self.conversation.session.record.artifacts
        if not argument.isdigit() or not 1 <= int(argument) <= len(artifacts):
            self.say(f"/open N needs an artifact number between 1 and {len(artifacts)} (see /list)", "yellow")
            return
        path = artifacts[int(argument) - 1].path
        opener = "open" if sys.platform == "darwin" else "xdg-open"
        if shutil.which(opener) is None:
            self.say(f"no viewer here ({opener} is missing); the file is {path}")
            return
        subprocess.Popen([opener, path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.say(f"opened {path}")

    def undo(self, _: str) -> None:
        turn = self.conversation.session.undo()
        self.say(f"forgot turn {turn.index}: {turn.text}" if turn else "nothing to undo")

    def list_tasks(self, _: str) -> None:
        from mora_agents.sop import SopSpec, list_sops

        for name, entry in sorted(list_sops(self.conversation.sop_dirs).items()):
            self.say(f"{name}: {SopSpec.from_file(entry.path).description}")
