"""A conversation with the studio: each user turn goes to the director, whose request (or question) is
run and recorded in a session folder. ``mora run`` replays a script through it, ``mora chat`` a person.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.errors import MoraError
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, VideoRequest
from mora_agents.session import Session, TurnRecord
from mora_agents.sop import SopSpec, find_sop, list_sops
from mora_agents.sop._runner import EventSink
from mora_agents.studio import StudioConfig, resume_task, run_task
from mora_agents.workspace import Workspace
from tools.memory import ModelMemory
from tools.progress import ProgressSink


class Conversation:
    """Turns in, runs out, everything recorded in ``session``.

    Args:
        session: the session folder.
        config: profile, LLM, review mode (scripted decisions are given per turn).
        sop_dirs: extra SOP folders, so user tasks are routable and runnable.
        base_dir: where relative file names in user turns are looked up (a script's folder).
    """

    def __init__(
        self,
        session: Session,
        config: StudioConfig,
        sop_dirs: list[Path] | None = None,
        base_dir: Path | None = None,
    ) -> None:
        self.session = session
        self.config = config
        self.sop_dirs = list(sop_dirs or [])
        self.base_dir = base_dir or Path.cwd()
        self._director = None
        self._memory: ModelMemory | None = None

    @property
    def memory(self) -> ModelMemory:
        """The session's loaded models: with policy ``keep`` the next turn reuses what this one loaded."""
        if self._memory is None:
            from tools.profiles import load_profile

            profile = load_profile(self.config.profile)
            self._memory = ModelMemory.for_profile(profile, self.config.memory, self.config.compile)
        return self._memory

    @property
    def director(self):
        if self._director is None:
            self._director = make_director(self.config.llm, self.sop_dirs)
        return self._director

    def route(self, text: str, seed: int) -> VideoRequest | ClarifyingQuestion:
        """What the director makes of ``text`` given the session so far (nothing is run)."""
        turn = DirectorTurn(text=text, artifacts=self.session.record.artifacts, seed=seed)
        message = StructuredMessage[DirectorTurn](content=turn, source="user")
        response = asyncio.run(self.director.on_messages([message], CancellationToken()))
        return response.chat_message.content

    def take_turn(
        self,
        text: str,
        *,
        seed: int,
        decisions: list[str] | None = None,
        progress: ProgressSink | None = None,
        events: EventSink | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> TurnRecord:
        """Route ``text``; ask back, or run the request and record its result.

        Raises:
            MoraError: the run failed (the turn is recorded as failed with the reason).
        """
        turn = self.session.new_turn(text)
        answer = self.route(text, seed)
        if isinstance(answer, ClarifyingQuestion):
            turn.status, turn.question = "asked", answer
            self.session.save()
            self.session.log("director", turn=turn.index, question=answer.question)
            return turn
        turn.request = self._with_local_paths(answer)
        turn.run_dir = f"runs/turn-{turn.index:02d}-{turn.request.task}"
        self.session.save()
        self.session.log("director", turn=turn.index, request=turn.request.model_dump(mode="json"))
        return self._run(turn, decisions, progress, events, cancellation_token, resume=False)

    def resume(
        self,
        turn: TurnRecord,
        decisions: list[str] | None = None,
        progress: ProgressSink | None = None,
        events: EventSink | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> TurnRecord:
        """Finish a turn whose run was interrupted (or never started after routing)."""
        if turn.request is None:
            raise MoraError(f"turn {turn.index} was never routed: say it again")
        started = turn.run_dir is not None and (self.session.root / turn.run_dir / "manifest.json").is_file()
        return self._run(turn, decisions, progress, events, cancellation_token, resume=started)

    def _run(self, turn, decisions, progress, events, token, *, resume: bool) -> TurnRecord:
        config = replace(self.config, decisions=list(decisions or []))
        turn.status = "running"
        self.session.save()
        try:
            if resume:
                _, manifest = resume_task(
                    self.session.root / turn.run_dir, config, progress, events, token, memory=self.memory
                )
            else:
                spec = self.spec(turn.request.task)
                run_id = Path(turn.run_dir).name
                _, manifest = run_task(
                    spec,
                    turn.request,
                    self.session.runs_dir,
                    config,
                    progress,
                    events,
                    token,
                    run_id=run_id,
                    memory=self.memory,
                )
        except MoraError as error:
            turn.status, turn.error = "failed", str(error)
            self.session.save()
            self.session.log("failed", turn=turn.index, error=str(error))
            raise
        turn.status = "completed"
        self.session.add_output(turn, manifest)
        self.session.log("completed", turn=turn.index, output=manifest.output.path if manifest.output else None)
        return turn

    def spec(self, task: str) -> SopSpec:
        return find_sop(task, self.sop_dirs)

    def workspace(self, turn: TurnRecord) -> Workspace:
        return Workspace(self.session.root / turn.run_dir)

    def _with_local_paths(self, request: VideoRequest) -> VideoRequest:
        """Relative media paths in a turn are relative to the script's folder (or the chat's directory)."""
        spec = self.spec(request.task)
        inputs = dict(request.inputs)
        for name, value in inputs.items():
            kind = spec.inputs[name].type if name in spec.inputs else None
            if kind in ("image", "video") and not Path(str(value)).is_absolute():
                candidate = self.base_dir / str(value)
                if candidate.exists():
                    inputs[name] = str(candidate.resolve())
        return request.model_copy(update={"inputs": inputs})


def make_director(llm: str | None, sop_dirs: list[Path]):
    """The director over every task on the search path, with the LLM and the embedding router."""
    from mora_agents.director import DirectorAgent, EmbeddingRouter
    from mora_agents.llm import create_llm

    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops(sop_dirs).items()}
    backend = create_llm(llm)
    return DirectorAgent(
        "director",
        model_client=backend.client,
        create_args=backend.create_args,
        sops=sops,
        router=EmbeddingRouter(),
    )
