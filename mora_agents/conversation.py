"""A conversation with the studio: each user turn goes to the director, whose request (or question) is
run and recorded in a session folder. ``mora run`` replays a script through it, ``mora chat`` a person.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.agents import Reviewer
from mora_agents.containment import is_inside, resolve_inside
from mora_agents.errors import MoraError
from mora_agents.messages import ClarifyingQuestion, DirectorTurn, QuestionAnswer, VideoRequest
from mora_agents.session import Session, TurnRecord
from mora_agents.sop import EventSink, SopSpec, find_sop, list_sops
from mora_agents.studio import Studio, StudioConfig
from mora_agents.workspace import Workspace
from mora_tools.loading.memory import ModelMemory

_NUMBER_ANSWER = re.compile(r"(?:(?:the\s+)?(?:clip|video|image|one|number|artifact)\s*)?#?\s*(?P<n>\d+)\s*[.!]?", re.I)
"""A reply that is only an artifact number: "#3", "3", "clip #3", "number 3"."""


class Conversation:
    """Turns in, runs out, everything recorded in ``session``.

    Args:
        session: the session folder.
        config: profile, LLM, review mode (scripted decisions are given per turn).
        sop_dirs: extra SOP folders, so user tasks are routable and runnable.
        base_dir: where relative file names in user turns are looked up (a script's files: the session's
            ``inputs/``; a chat: the working directory).
        confine: names must stay inside ``base_dir`` (relative, no ``..`` or symlink out): they come from a file
            or a request. ``False`` for a person typing at the terminal, who may name any file of theirs. Either
            way a named file is linked into the session's ``inputs/`` before it is used, so ``session.json`` only
            ever names files inside the session folder.
        memory: models already loaded to share (a server's, across its sessions); default: the session's own.
        director: a director already made to share; default: one made on first use.
    """

    def __init__(
        self,
        session: Session,
        config: StudioConfig,
        sop_dirs: list[Path] | None = None,
        base_dir: Path | None = None,
        *,
        confine: bool = False,
        memory: ModelMemory | None = None,
        director=None,
    ) -> None:
        self.session = session
        self.config = config
        self.sop_dirs = list(sop_dirs or [])
        self.base_dir = base_dir or Path.cwd()
        self.confine = confine
        self._director = director
        self._memory: ModelMemory | None = memory

    @property
    def memory(self) -> ModelMemory:
        """The session's loaded models: with policy ``keep`` the next turn reuses what this one loaded."""
        if self._memory is None:
            from mora_tools.loading.profiles import load_profile

            profile = load_profile(self.config.profile)
            self._memory = ModelMemory.for_profile(profile, self.config.memory, self.config.compile)
        return self._memory

    @property
    def director(self):
        if self._director is None:
            self._director = make_director(self.config.llm, self.sop_dirs)
        return self._director

    async def route(
        self, text: str, seed: int, answered: QuestionAnswer | None = None
    ) -> VideoRequest | ClarifyingQuestion:
        """What the director makes of ``text`` given the session so far (nothing is run); ``answered``: what the
        person settled by answering a question about ``text``."""
        turn = DirectorTurn(text=text, artifacts=self.session.record.artifacts, seed=seed, answered=answered)
        message = StructuredMessage[DirectorTurn](content=turn, source="user")
        response = await self.director.on_messages([message], CancellationToken())
        return response.chat_message.content

    def answer_to_question(self, text: str) -> tuple[str, QuestionAnswer] | None:
        """When the last turn asked which artifact an input should be and ``text`` is just one of the numbers it
        offered ("#3", "3", "clip #3"): the words that turn was about, and what the answers so far settle."""
        turns = self.session.record.turns
        last = turns[-1] if turns else None
        question = last.question if last is not None and last.status == "asked" else None
        match = _NUMBER_ANSWER.fullmatch(text.strip())
        if question is None or match is None or not question.missing or question.task is None:
            return None
        number = int(match["n"])
        if number not in question.candidates:
            return None  # not one of those offered: an ordinary turn
        earlier = last.answered.inputs if last.answered and last.answered.task == question.task else {}
        inputs = {**earlier, question.missing[0]: number}
        return last.meant or last.text, QuestionAnswer(task=question.task, inputs=inputs)

    async def take_turn(
        self,
        text: str,
        *,
        seed: int,
        decisions: list[str] | None = None,
        on_event: EventSink | None = None,
        reviewer: Reviewer | None = None,
        cancellation_token: CancellationToken | None = None,
        announce: Callable[[VideoRequest], None] | None = None,
    ) -> TurnRecord:
        """Route ``text``; ask back, or run the request and record its result. ``announce`` hears the routed
        request (its ``explanation`` says what was understood) before anything runs; ``on_event`` every event of
        the run; ``reviewer`` (a server's) decides its reviews instead of the configured mode.

        Raises:
            MoraError: the run failed (the turn is recorded as failed with the reason).
        """
        turn = await self.plan_turn(text, seed=seed)
        if turn.status == "asked":
            return turn
        if announce is not None:
            announce(turn.request)
        return await self._run(turn, decisions, on_event, reviewer, cancellation_token, resume=False)

    async def plan_turn(self, text: str, *, seed: int) -> TurnRecord:
        """Record and route ``text``: a turn that ``asked``, or one ``routed`` with its request and run folder, which
        :meth:`resume` then runs (a server queues that).

        Raises:
            MoraError: a file the request names is refused (the turn is recorded as failed with the reason).
        """
        meant, answered = self.answer_to_question(text) or (None, None)
        turn = self.session.new_turn(text)
        turn.meant, turn.answered = meant, answered
        answer = await self.route(meant or text, seed, answered)
        if meant and answered:
            self.session.log("director", turn=turn.index, understood_as=meant, answered=answered.inputs)
        if isinstance(answer, ClarifyingQuestion):
            turn.status, turn.question = "asked", answer
            self.session.save()
            self.session.log("director", turn=turn.index, question=answer.question, candidates=answer.candidates)
            return turn
        try:
            turn.request = self._with_local_paths(turn, answer)
        except MoraError as error:
            turn.status, turn.error = "failed", str(error)
            self.session.save()
            self.session.log("failed", turn=turn.index, error=str(error))
            raise
        turn.run_dir = f"runs/turn-{turn.index:02d}-{turn.request.task}"
        self.session.save()
        self.session.log(
            "director",
            turn=turn.index,
            understood=turn.request.explanation,
            request=turn.request.model_dump(mode="json"),
        )
        return turn

    async def resume(
        self,
        turn: TurnRecord,
        decisions: list[str] | None = None,
        on_event: EventSink | None = None,
        reviewer: Reviewer | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> TurnRecord:
        """Finish a turn whose run was interrupted (or never started after routing)."""
        if turn.request is None:
            raise MoraError(f"turn {turn.index} was never routed: say it again")
        # The request was read back from session.json: its files must still be the session's own.
        spec = self.spec(turn.request.task)
        for name, value in turn.request.inputs.items():
            if name in spec.inputs and spec.inputs[name].type in ("image", "video"):
                what = f"session.json of session {self.session.root.name} turn {turn.index} (input '{name}')"
                self.session.session_file(str(value), what=what)
        started = turn.run_dir is not None and (self.session.run_folder(turn) / "manifest.json").is_file()
        return await self._run(turn, decisions, on_event, reviewer, cancellation_token, resume=started)

    async def _run(self, turn, decisions, on_event, reviewer, token, *, resume: bool) -> TurnRecord:
        studio = Studio(replace(self.config, decisions=list(decisions or [])), self.memory)
        turn.status = "running"
        self.session.save()
        try:
            if resume:
                folder = self.session.run_folder(turn)
                _, manifest = await studio.resume(
                    folder, reviewer=reviewer, on_event=on_event, cancellation_token=token
                )
            else:
                spec = self.spec(turn.request.task)
                run_id = Path(turn.run_dir).name
                _, manifest = await studio.run(
                    spec,
                    turn.request,
                    self.session.runs_dir,
                    reviewer=reviewer,
                    on_event=on_event,
                    cancellation_token=token,
                    run_id=run_id,
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
        return Workspace(self.session.run_folder(turn))

    def _with_local_paths(self, turn: TurnRecord, request: VideoRequest) -> VideoRequest:
        """The request with each image and video input as an absolute path of a file inside the session folder.

        Session artifacts are already there. Other names are relative to :attr:`base_dir` (and, with
        :attr:`confine`, must stay inside it); a file found outside the session is linked into ``inputs/``.

        Raises:
            MoraError: with :attr:`confine`, a name that is absolute or leads out of :attr:`base_dir`.
        """
        spec = self.spec(request.task)
        inputs = dict(request.inputs)
        frames = {b.input: b.frame for b in request.bindings if b.frame}
        for name, value in inputs.items():
            kind = spec.inputs[name].type if name in spec.inputs else None
            if kind in ("image", "video"):
                inputs[name] = self._local_file(turn, name, str(value))
            if name in frames:
                inputs[name] = self._frame_file(turn, name, str(inputs[name]), frames[name])
        return request.model_copy(update={"inputs": inputs})

    def _frame_file(self, turn: TurnRecord, name: str, video: str, which: str) -> str:
        """The ``first`` / ``last`` frame of a session video, saved as ``inputs/turn-NN/<input>-<which>-frame.png``
        ("animate the first frame of clip 2")."""
        from mora_agents.media import save_png, video_frame
        from mora_agents.media_guard import check_video

        check_video(video)  # a damaged clip is named here, in one sentence
        target = self.session.inputs_dir / f"turn-{turn.index:02d}" / f"{name}-{which}-frame.png"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            save_png(video_frame(video, which), target)
        except OSError as error:
            raise MoraError(
                f"cannot save the {which} frame of {video} as {target}: {error.strerror or error}"
            ) from None
        return str(target.resolve())

    def _local_file(self, turn: TurnRecord, name: str, value: str) -> str:
        if Path(value).is_absolute() and is_inside(self.session.root, value):
            return str(Path(value).resolve())  # an artifact of this session
        if self.confine:
            what = f"turn {turn.index} of session {self.session.root.name} (input '{name}')"
            candidate = resolve_inside(self.base_dir, value, what=what, folder="the folder its files come from")
        else:
            candidate = (self.base_dir / Path(value).expanduser()).resolve()
        if not candidate.is_file():
            return value if not self.confine else str(candidate)  # the run's input check names what is missing
        if is_inside(self.session.root, candidate):
            return str(candidate)
        # A person's own file from elsewhere: linked in, so a resumed session reads nothing outside its folder.
        from mora_agents.media import link_atomic

        target = self.session.inputs_dir / f"turn-{turn.index:02d}" / f"{name}{candidate.suffix.lower()}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            link_atomic(candidate, target)
        except OSError as error:
            raise MoraError(f"cannot link {candidate} into the session ({target}): {error.strerror or error}") from None
        return str(target.resolve())


DIRECTORS = ("learned", "llm")
"""How the director reads a turn (``--director`` / ``MORA_DIRECTOR``): ``learned`` (the trained model fills a typed
plan, offline: the default with the embedded LLM) or ``llm`` (the configured LLM fills the plan through its schema,
the trained model standing in when it fails: the default with an OpenAI-compatible LLM, ``--llm openai`` or
``MORA_LLM_BASE_URL``)."""


def make_director(llm: str | None, sop_dirs: list[Path] | None = None, seed: int = 0, director: str | None = None):
    """The director over every task on the search path. ``director`` (else ``MORA_DIRECTOR``) picks how turns are
    read (:data:`DIRECTORS`); by default an OpenAI-compatible LLM reads them and the trained model does otherwise
    (``llm`` ``none``: never an LLM)."""
    from mora_agents.director import DirectorAgent, LearnedResolver, LlmResolver
    from mora_agents.llm import backend_name, create_llm

    director = director or os.environ.get("MORA_DIRECTOR") or None
    if director is not None and director not in DIRECTORS:
        raise MoraError(f"unknown director '{director}': choose one of {', '.join(DIRECTORS)}")
    if director == "llm" and llm == "none":
        raise MoraError("the llm director needs an LLM: drop --llm none, or choose --director learned")
    if director is None:
        director = "llm" if llm != "none" and backend_name(llm) == "openai" else "learned"
    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops(sop_dirs).items()}
    resolver = LearnedResolver()
    if director == "llm":
        backend = create_llm(llm, seed=seed)
        resolver = LlmResolver(
            backend.client, backend.create_args, fallback=resolver, schema_format=backend.schema_format
        )
    return DirectorAgent("director", sops=sops, resolver=resolver)
