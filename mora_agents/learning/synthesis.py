"""Data-free synthesis of training data (paper §3.2, App. A.6, A.7): prompts in, judged and selected videos out.

For every seed prompt, A1 writes ``variants`` diverse prompts (variant 1 is the seed prompt itself; the SOP's own A1
still enhances it in every run). Each (prompt, variant) is a *candidate set*: the SOP (default ``text_to_video``)
makes K candidate videos with K seeds, and every judge ranks the K under one criterion drawn at random from the
paper's ten. The paper's rule decides:

* the voting (non-abstaining) judges agree on a top-1 -> that candidate is kept (``decided_by: judges``);
* they all find none acceptable -> the set is discarded by the judges;
* they disagree, or all abstain -> the human decides (console, scripted answers, or ``queue.yaml`` answered later),
  picking a candidate or discarding the set; with ``human="none"`` (the paper's "w/o human-in-the-loop" ablation)
  such a set is discarded.

Everything lives in one folder, DATA (see :mod:`mora_agents.learning.dataset` for the layout). Synthesis is
resumable and idempotent: each set's ``state.json`` is rewritten atomically after every change, the candidate runs
are ordinary run folders (a killed one is resumed from its last finished stage), decided sets are never touched
again, and ``metadata.jsonl`` is rebuilt atomically from the decided sets. Running the same command again after a
kill continues where it stopped; after a finished run it does nothing and loads no model.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel, ValidationError

from mora_agents import __version__
from mora_agents.agents import CRITERIA, JudgeAgent, PromptEnhancerAgent, judge_from_spec
from mora_agents.containment import resolve_inside
from mora_agents.errors import MoraError
from mora_agents.learning._choosers import (
    HUMAN_MODES,
    Choice,
    Chooser,
    ConsoleChooser,
    NoHumanChooser,
    Question,
    QueueChooser,
    ScriptedChooser,
)
from mora_agents.learning.dataset import (
    CANDIDATES_DIR,
    FIRST_FRAME_NAME,
    QUEUE_NAME,
    SAMPLES_DIR,
    SETS_DIR,
    SETTINGS_NAME,
    STATE_NAME,
    VIDEO_NAME,
    CandidateRecord,
    SetState,
    SynthesisSettings,
    TrainingSample,
    write_metadata,
)
from mora_agents.media import link_atomic
from mora_agents.messages import (
    EnhancedPrompt,
    ImageArtifact,
    JudgeRequest,
    JudgeVerdict,
    JudgeVotes,
    PromptEnhancementRequest,
    VideoArtifact,
    VideoRequest,
)
from mora_agents.workspace import MANIFEST_NAME, RunManifest, Workspace, now_iso, write_text_atomic

SEED_STRIDE = 1_000_000
"""Candidate seeds: ``seed * SEED_STRIDE + set_number * K + k``; distinct for up to a million candidates per seed."""

VARIATION_INSTRUCTION = (
    "This is variation {variant} of {variants} of the request: keep every subject and action it names, but choose a "
    "different setting, camera angle and lighting than a plain rendering would."
)
"""Appended to A1's system prompt when it writes variant 2 and on."""

CAMERAS = ("wide establishing shot", "close-up", "low-angle shot", "slow tracking shot", "aerial view", "handheld shot")
LIGHTS = ("golden hour light", "soft overcast light", "dramatic backlight at dusk", "cool moonlight", "bright noon sun")
"""A variant A1 could not vary (a small LLM often repeats the request) gets one of these pairings instead; 6 and 5
are coprime, so 30 variants in a row differ."""


class SynthesisSummary(BaseModel):
    """What a synthesis run left in DATA (counts over all its sets, not only this call's)."""

    data_dir: str
    sets: int
    kept: int
    """Sets with a selected candidate: the rows of ``metadata.jsonl``."""
    discarded: int
    pending: int
    """Sets not decided yet: waiting in ``queue.yaml`` (human mode queue)."""
    by_judges: int
    """Sets the judges settled: agreed on a top-1 (kept) or all found none acceptable (discarded)."""
    by_human: int
    """Sets a person decided (console, scripted, or queue)."""
    discarded_without_human: int
    """Sets human mode ``none`` discarded because the judges did not settle them."""
    agent_success_rate: float | None
    """Share of judged sets whose judges agreed on a top-1 without a human. Our reading of the paper's "agent
    success rate" (Table 13: runs finished without a human correction); ``None`` before any set is judged."""
    queue: str | None = None
    """``queue.yaml`` when sets wait for answers there."""
    human_answers_used: int = 0
    """Human mode ``scripted``: how many of ``decisions`` the folder's sets have used, earlier (killed) calls on the
    same folder included; the learning loop drops that many before its next iteration."""
    runs_made: int = 0
    """Candidate runs started by this call."""
    runs_resumed: int = 0
    """Interrupted candidate runs this call continued."""
    models_loaded: int = 0
    """Models (pipelines, the LLM) this call loaded: 0 when nothing was left to do."""
    seconds: float = 0.0


def read_prompts(path: str | os.PathLike) -> list[str]:
    """The seed prompts of a prompts file: one per line (blank lines and ``#`` comments skipped), or a YAML list
    (a ``.yaml`` / ``.yml`` file).

    Raises:
        MoraError: the file is missing, unreadable, not a list of texts, or holds no prompt.
    """
    path = Path(path)
    if not path.is_file():
        raise MoraError(f"prompts file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MoraError(f"cannot read the prompts file {path}: {str(error).splitlines()[0]}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            detail = " ".join(str(error).split())
            raise MoraError(f"the prompts file {path} is not valid YAML ({detail[:160]})") from None
        if data is None:
            data = []
        if not isinstance(data, list):
            raise MoraError(f"the prompts file {path} must be a YAML list of prompts, got a {type(data).__name__}")
        prompts = []
        for number, item in enumerate(data, start=1):
            if not isinstance(item, str) or not item.strip():
                raise MoraError(f"the prompts file {path}: item {number} is not a text prompt ({item!r})")
            prompts.append(" ".join(item.split()))
    else:
        prompts = [line.strip() for line in text.splitlines()]
        prompts = [line for line in prompts if line and not line.startswith("#")]
    if not prompts:
        raise MoraError(f"the prompts file {path} holds no prompt: write one seed prompt per line")
    return prompts


def candidate_seed(seed: int, set_number: int, candidates: int, index: int) -> int:
    """The run seed of candidate ``index`` of set ``set_number``: the same arguments always give the same videos."""
    return seed * SEED_STRIDE + set_number * candidates + index


def draw_criterion(criterion_seed: int, set_id: str) -> str:
    """The set's criterion, drawn from the paper's ten with an RNG seeded by the seed and the set id (repeatable,
    and independent of how many sets come before)."""
    return random.Random(f"{criterion_seed}:{set_id}").choice(CRITERIA)


def synthesize(
    prompts_file: str | os.PathLike,
    out: str | os.PathLike,
    *,
    candidates: int = 4,
    variants: int = 1,
    judges: list[str],
    human: str = "console",
    decisions: list[str] | None = None,
    sop: str = "text_to_video",
    profile: str = "tiny",
    adapters: str | None = None,
    seed: int = 0,
    iteration: int = 1,
    duration: float | None = None,
    llm: str | None = None,
    criterion_seed: int | None = None,
    device: str | None = None,
    dtype: str | None = None,
    progress=None,
    log: Callable[[str], None] | None = None,
    ask: Callable[[str], str] | None = None,
) -> SynthesisSummary:
    """Make, judge and select candidate videos for every seed prompt into the data folder ``out``.

    Args:
        prompts_file: seed prompts, one per line (``#`` comments and blank lines skipped) or a ``.yaml`` list.
        out: the DATA folder (created; an existing one made with the same settings is resumed).
        candidates: K, candidate videos per set (the paper: 4).
        variants: prompts per seed prompt: the seed prompt itself, then ``variants - 1`` variations by A1.
        judges: judge specs (``metric``, ``metric:flicker=-1,threshold=0.6``, ``openai:MODEL``); the paper uses two.
        human: who decides what the judges do not settle: ``console``, ``scripted`` (``decisions``), ``queue``
            (``DATA/queue.yaml``, answered later) or ``none`` (discard: the paper's no-human ablation).
        decisions: ``scripted`` answers in order, one per unsettled set: ``2`` / ``pick 2`` or ``discard``.
        sop: the task that makes the candidates; it must take a ``prompt`` and nothing else that is required.
        profile: the model profile.
        adapters: a ``mora learn train`` run (or its ``adapters/``) to generate with; ``None``: the profile's models.
        seed: base seed; candidate seeds follow :func:`candidate_seed`.
        iteration: the learning loop's iteration, recorded in every row.
        duration: seconds per video; ``None``: the SOP's default.
        llm: A1's LLM backend (``embedded``, ``openai``); ``None``: from the environment.
        criterion_seed: seeds the criterion draw; ``None``: ``seed``.
        device: torch device for the models; ``None``: the best found.
        dtype: ``float32`` / ``float16`` / ``bfloat16`` overriding the profile's.
        progress: a ``mora_tools.progress.ProgressSink`` for the candidate runs' stages.
        log: called with one line per step (set created, candidate made, judged, decided).
        ask: human mode ``console``: shows a question, returns the answer; default: the terminal.

    Returns:
        The counts over every set in the folder, and what this call did.

    Raises:
        MoraError: bad arguments, a bad prompts or queue file, settings that differ from the folder's, or a run that
            failed: one sentence.
    """
    started = time.perf_counter()
    prompts = read_prompts(prompts_file)
    if candidates < 1:
        raise MoraError(f"--candidates must be at least 1, got {candidates}")
    if variants < 1:
        raise MoraError(f"--variants must be at least 1, got {variants}")
    if seed < 0:
        raise MoraError(f"--seed must be 0 or more, got {seed}")
    if human not in HUMAN_MODES:
        raise MoraError(f"unknown human mode '{human}': choose one of {', '.join(HUMAN_MODES)}")
    if decisions and human != "scripted":
        raise MoraError(f"decisions are answers for human mode scripted, but the human mode is {human}")
    if not judges:
        raise MoraError("synthesis needs at least one judge, e.g. --judge metric (the paper uses two)")
    judge_agents = [judge_from_spec(spec, index) for index, spec in enumerate(judges)]
    spec = _checked_sop(sop, duration)
    settings = SynthesisSettings(
        sop=spec.name,
        profile=profile,
        candidates=candidates,
        variants=variants,
        judges=list(judges),
        human=human,
        seed=seed,
        iteration=iteration,
        adapters=adapters,
        duration=duration,
        llm=llm,
        criterion_seed=criterion_seed,
        prompts=prompts,
    )
    job = _Synthesis(Path(out), settings, spec, judge_agents, log or (lambda line: None), progress, device, dtype)
    job.prepare()
    job.chooser = job.make_chooser(decisions or [], ask)
    try:
        job.run()
    finally:
        job.memory.release_all()
    return job.summary(round(time.perf_counter() - started, 3))


def _checked_sop(name: str, duration: float | None):
    from mora_agents.sop import find_sop

    spec = find_sop(name)
    given = spec.inputs.get("prompt")
    if given is None or given.type != "text":
        raise MoraError(
            f"task '{spec.name}' takes no text input 'prompt': synthesis makes videos from prompts "
            "(use text_to_video or digital_world)"
        )
    inputs: dict[str, str | float] = {"prompt": "a test prompt"}
    if duration is not None:
        inputs["duration"] = duration
    try:
        spec.bind_inputs(inputs)
    except MoraError as error:
        raise MoraError(f"{error}, but synthesis gives a task only a prompt and a duration") from None
    return spec


class _Synthesis:
    """One synthesis call over one DATA folder."""

    def __init__(self, root: Path, settings: SynthesisSettings, spec, judges, log, progress, device, dtype) -> None:
        from mora_agents.studio import StudioConfig
        from mora_tools.memory import ModelMemory
        from mora_tools.profiles import load_profile

        self.root = root
        self.settings = settings
        self.spec = spec
        self.judges: list[JudgeAgent] = judges
        self.log = log
        self.progress = progress
        self.config = StudioConfig(
            profile=settings.profile,
            llm=settings.llm,
            review="auto",
            adapters=settings.adapters,
            device=device,
            dtype=dtype,
        )
        # One memory under policy keep for every candidate run and A1's variations: K runs load the models once.
        # Loading is lazy, so a call with nothing left to do loads nothing.
        self.memory = ModelMemory.for_profile(load_profile(settings.profile), "keep")
        self.states: dict[str, SetState] = {}
        self.plan: list[tuple[str, int, int]] = []
        """(set id, prompt index, variant) in set-number order."""
        self.chooser: Chooser | None = None
        self.runs_made = self.runs_resumed = 0

    # -- set-up ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create or check the folder and its settings; read the states of the sets made so far."""
        root = self.root
        if root.exists() and not root.is_dir():
            raise MoraError(f"{root} is a file, not a data folder: choose another --out")
        settings_path = root / SETTINGS_NAME
        if settings_path.is_file():
            self._check_settings(settings_path)
        elif root.is_dir() and any(root.iterdir()):
            raise MoraError(f"{root} is not empty and holds no {SETTINGS_NAME}: choose a new --out folder for the data")
        else:
            try:
                (root / SETS_DIR).mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise MoraError(f"cannot create the data folder {root}: {error.strerror or error}") from None
            self._write_settings(settings_path)
        for prompt_index in range(len(self.settings.prompts)):
            for variant in range(1, self.settings.variants + 1):
                # A fixed width: ids stay the same when prompts are appended (p1000 just sorts early).
                self.plan.append((f"p{prompt_index + 1:03d}-v{variant}", prompt_index, variant))
        for set_id, _, _ in self.plan:
            path = self.set_dir(set_id) / STATE_NAME
            if path.is_file():
                self.states[set_id] = _read_state(path)

    def _check_settings(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            recorded = SynthesisSettings.model_validate(data)
        except (OSError, ValueError) as error:
            detail = " ".join(str(error).split())[:160]
            raise MoraError(f"{path} is unreadable ({detail}): choose a new --out folder") from None
        for name in SynthesisSettings.model_fields:
            if name == "prompts":
                continue
            then, now = getattr(recorded, name), getattr(self.settings, name)
            if then != now:
                raise MoraError(
                    f"{self.root} was made with {name}={_shown(then)}, not {_shown(now)}: "
                    "resume it with the same settings, or choose a new --out folder"
                )
        old, new = recorded.prompts, self.settings.prompts
        for number, (before, after) in enumerate(zip(old, new, strict=False), start=1):
            if before != after:
                raise MoraError(
                    f"prompt {number} is '{after}', but {self.root} was made with '{before}': "
                    "prompts may be appended, not changed (or choose a new --out folder)"
                )
        if len(new) < len(old):
            raise MoraError(
                f"the prompts file has {len(new)} prompts, but {self.root} was made from {len(old)}: "
                "prompts may be appended, not removed (or choose a new --out folder)"
            )
        if len(new) > len(old):
            self._write_settings(path)

    def _write_settings(self, path: Path) -> None:
        record = {"mora_version": __version__, "created": now_iso(), **self.settings.model_dump()}
        write_text_atomic(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")

    def make_chooser(self, decisions: list[str], ask: Callable[[str], str] | None) -> Chooser:
        human = self.settings.human
        if human == "console":
            return ConsoleChooser(ask, videos_root=self.root)
        if human == "scripted":
            # Answers earlier (killed) calls already applied are skipped, as resume_task does for reviews.
            used = sum(1 for state in self.states.values() if state.decided_by == "human")
            return ScriptedChooser(decisions, used)
        if human == "queue":
            known = {set_id: self.settings.candidates for set_id, _, _ in self.plan}
            decided = {set_id for set_id, state in self.states.items() if state.status != "pending"}
            return QueueChooser(self.root / QUEUE_NAME, known, decided)
        return NoHumanChooser()

    # -- the loop ----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            for number, (set_id, prompt_index, variant) in enumerate(self.plan):
                state = self.states.get(set_id)
                if state is not None and state.status != "pending":
                    continue  # decided or discarded: never touched again
                if state is None:
                    state = self._new_set(set_id, number, prompt_index, variant)
                self._make_candidates(state)
                if state.votes is None:
                    self._judge(state)
                if state.status == "pending":
                    self._decide(state)
        finally:
            if isinstance(self.chooser, QueueChooser):
                self.chooser.save()
            self._rebuild_metadata()

    def set_dir(self, set_id: str) -> Path:
        return self.root / SETS_DIR / set_id

    def _save(self, state: SetState) -> None:
        state.updated = now_iso()
        folder = self.set_dir(state.set_id)
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomic(folder / STATE_NAME, state.model_dump_json(indent=2))
        self.states[state.set_id] = state

    def _new_set(self, set_id: str, number: int, prompt_index: int, variant: int) -> SetState:
        settings = self.settings
        seed_prompt = settings.prompts[prompt_index]
        if variant == 1:
            prompt, source, note = seed_prompt, "seed", None
        else:
            base = set_id.rsplit("-v", 1)[0]
            siblings = (self.states.get(f"{base}-v{other}") for other in range(2, variant))
            earlier = [seed_prompt, *(sibling.prompt for sibling in siblings if sibling is not None)]
            prompt, source, note = self._variation(seed_prompt, variant, earlier)
        criterion_seed = settings.criterion_seed if settings.criterion_seed is not None else settings.seed
        state = SetState(
            set_id=set_id,
            number=number,
            seed_prompt=seed_prompt,
            variant=variant,
            prompt=prompt,
            prompt_source=source,
            prompt_note=note,
            criterion=draw_criterion(criterion_seed, set_id),
        )
        self._save(state)
        because = f"; {note}" if note else ""
        self.log(f"{set_id}: new set, prompt '{prompt}' ({source}{because}), criterion: {state.criterion}")
        return state

    def _variation(self, seed_prompt: str, variant: int, earlier: list[str]) -> tuple[str, str, str | None]:
        """A1's variation ``variant`` of ``seed_prompt``; a fixed camera/light pairing when A1's is unusable or a
        repeat of an earlier prompt of the same seed."""
        from mora_agents.llm import create_llm

        key = f"llm/{self.settings.llm or 'default'}"  # the studio's key: the runs' A1 shares this LLM
        llm = self.memory.acquire(key, lambda: create_llm(self.settings.llm, seed=self.settings.seed))
        instruction = VARIATION_INSTRUCTION.format(variant=variant, variants=self.settings.variants)
        agent = PromptEnhancerAgent.from_backend("a1_prompt_enhancer", llm, instruction=instruction)
        message = StructuredMessage[PromptEnhancementRequest](
            content=PromptEnhancementRequest(prompt=seed_prompt), source="synthesis", metadata={"stage": "variation"}
        )
        response = asyncio.run(agent.on_messages([message], CancellationToken()))
        answer: EnhancedPrompt = response.chat_message.content
        if answer.source == "llm" and _key(answer.prompt) not in {_key(text) for text in earlier}:
            return answer.prompt, "llm", None
        why = answer.warning or "A1 repeated an earlier prompt"
        position = variant - 2
        camera, light = CAMERAS[position % len(CAMERAS)], LIGHTS[position % len(LIGHTS)]
        return f"{seed_prompt.rstrip(' .,')}, {camera}, {light}", "fallback", why

    def _make_candidates(self, state: SetState) -> None:
        """Finish the set's K candidate runs: reuse finished ones, resume interrupted ones, make missing ones."""
        from mora_agents.studio import ConsoleEvents, resume_task, run_task

        settings = self.settings
        set_dir = self.set_dir(state.set_id)
        known = {
            record.index: record
            for record in state.candidates
            if _set_file(set_dir, record.video.path, state.set_id).is_file()
        }
        for index in range(settings.candidates):
            if index in known:
                continue
            run_dir = set_dir / CANDIDATES_DIR / f"c{index}"
            seed = candidate_seed(settings.seed, state.number, settings.candidates, index)
            inputs: dict[str, str | float | int] = {"prompt": state.prompt}
            if settings.duration is not None:
                inputs["duration"] = settings.duration
            request = VideoRequest(task=self.spec.name, inputs=inputs, seed=seed)
            manifest = _finished_or_resumable(run_dir, request, self.log)
            where = f"{state.set_id} candidate {index + 1}/{settings.candidates} (seed {seed})"
            if manifest is not None and manifest.status == "completed":
                self.log(f"{where}: kept, finished earlier")
            elif manifest is not None:
                self.log(f"{where}: resuming the interrupted run")
                _, manifest = resume_task(run_dir, self.config, ConsoleEvents(self.progress), memory=self.memory)
                self.runs_resumed += 1
            else:
                self.log(f"{where}: making")
                _, manifest = run_task(
                    self.spec,
                    request,
                    run_dir.parent,
                    self.config,
                    ConsoleEvents(self.progress),
                    run_id=run_dir.name,
                    memory=self.memory,
                )
                self.runs_made += 1
            known[index] = _record(state, index, run_dir, manifest)
            state.candidates = [known[i] for i in sorted(known)]
            self._save(state)
        state.candidates = [known[i] for i in sorted(known)]

    def _judge(self, state: SetState) -> None:
        set_dir = self.set_dir(state.set_id).resolve()
        request = JudgeRequest(
            request=state.seed_prompt,
            criterion=state.criterion,
            candidates=[record.video for record in state.candidates],
        )
        for judge in self.judges:
            judge.files_root = set_dir
        count = len(state.candidates)
        verdicts = [_fitting(verdict, count) for verdict in asyncio.run(_ask_judges(self.judges, request))]
        voting = [verdict for verdict in verdicts if not verdict.abstained]
        tops = {verdict.top for verdict in voting}
        if voting and len(tops) == 1:
            outcome = "agreed" if next(iter(tops)) is not None else "none_acceptable"
        else:
            outcome = "disagreed" if voting else "all_abstained"
        state.votes = JudgeVotes(outcome=outcome, criterion=state.criterion, verdicts=verdicts)
        self._save(state)
        said = "; ".join(
            f"{v.judge}: {'abstained' if v.abstained else ('top ' + str(v.top) if v.top is not None else 'none')}"
            for v in verdicts
        )
        self.log(f"{state.set_id}: judges {outcome} ({said})")

    def _decide(self, state: SetState) -> None:
        votes = state.votes
        assert votes is not None  # judged just before
        if votes.outcome == "agreed":
            top = next(verdict.top for verdict in votes.verdicts if not verdict.abstained)
            self._keep(state, Choice(top, "judges"))
            return
        if votes.outcome == "none_acceptable":
            self._discard(state, Choice(None, "judges"))
            return
        assert self.chooser is not None
        question = Question(
            set_id=state.set_id,
            seed_prompt=state.seed_prompt,
            criterion=state.criterion,
            outcome=votes.outcome,
            videos=[f"{SETS_DIR}/{state.set_id}/{record.video.path}" for record in state.candidates],
            prompts=[record.prompt for record in state.candidates],
            verdicts=[verdict.model_dump() for verdict in votes.verdicts],
        )
        choice = self.chooser.choose(question)
        if choice is None:
            if not state.queued:
                state.queued = True
                self._save(state)
                self.log(f"{state.set_id}: waiting for an answer in {self.root / QUEUE_NAME}")
            return
        if choice.chosen is None:
            self._discard(state, choice)
        else:
            self._keep(state, choice)
        if isinstance(self.chooser, QueueChooser):
            self.chooser.remove(state.set_id)

    def _keep(self, state: SetState, choice: Choice) -> None:
        assert choice.chosen is not None
        state.sample = self._make_sample(state, choice.chosen, choice.by)
        state.status, state.decided_by, state.chosen, state.answer = "decided", choice.by, choice.chosen, choice.answer
        state.queued = False
        self._save(state)
        self._rebuild_metadata()
        self.log(f"{state.set_id}: kept candidate {choice.chosen} (decided by {choice.by})")

    def _discard(self, state: SetState, choice: Choice) -> None:
        state.status, state.decided_by, state.chosen, state.answer = "discarded", choice.by, None, choice.answer
        state.queued = False
        self._save(state)
        self.log(f"{state.set_id}: discarded (decided by {choice.by})")

    def _make_sample(self, state: SetState, chosen: int, decided_by: str) -> TrainingSample:
        """Link the chosen candidate's video and first frame under ``samples/<set-id>/`` and describe them."""
        record = state.candidates[chosen]
        set_dir = self.set_dir(state.set_id)
        sample_dir = self.root / SAMPLES_DIR / state.set_id
        sample_dir.mkdir(parents=True, exist_ok=True)
        video = record.video
        link_atomic(_set_file(set_dir, video.path, state.set_id), sample_dir / VIDEO_NAME)
        _first_frame(set_dir, state.set_id, record, (video.width, video.height), sample_dir / FIRST_FRAME_NAME)
        return TrainingSample(
            file_name=f"{SAMPLES_DIR}/{state.set_id}/{VIDEO_NAME}",
            first_frame=f"{SAMPLES_DIR}/{state.set_id}/{FIRST_FRAME_NAME}",
            prompt=record.prompt,
            seed_prompt=state.seed_prompt,
            set_id=state.set_id,
            sop=self.settings.sop,
            profile=self.settings.profile,
            seed=record.seed,
            width=video.width,
            height=video.height,
            fps=video.fps,
            num_frames=video.num_frames,
            criterion=state.criterion,
            votes=state.votes.verdicts if state.votes else [],
            decided_by=decided_by,
            chosen=chosen,
            candidates=self.settings.candidates,
            iteration=self.settings.iteration,
        )

    def _rebuild_metadata(self) -> None:
        samples = []
        for set_id in sorted(self.states):
            state = self.states[set_id]
            if state.status != "decided" or state.sample is None:
                continue
            sample_dir = self.root / SAMPLES_DIR / set_id
            if not (sample_dir / VIDEO_NAME).is_file() or not (sample_dir / FIRST_FRAME_NAME).is_file():
                # Killed between linking and saving, or removed by hand: the candidate runs still hold the media.
                state.sample = self._make_sample(state, state.chosen or 0, state.sample.decided_by)
            samples.append(state.sample)
        write_metadata(self.root, samples)

    # -- the result ----------------------------------------------------------------------------------

    def summary(self, seconds: float) -> SynthesisSummary:
        states = [self.states[set_id] for set_id, _, _ in self.plan if set_id in self.states]
        judged = [state for state in states if state.votes is not None]
        agreed = sum(1 for state in judged if state.votes and state.votes.outcome == "agreed")
        pending = len(self.plan) - sum(1 for state in states if state.status != "pending")
        queue = self.root / QUEUE_NAME
        waiting = any(state.queued and state.status == "pending" for state in states)
        return SynthesisSummary(
            data_dir=str(self.root),
            sets=len(self.plan),
            kept=sum(1 for state in states if state.status == "decided"),
            discarded=sum(1 for state in states if state.status == "discarded"),
            pending=pending,
            by_judges=sum(1 for state in states if state.decided_by == "judges"),
            by_human=sum(1 for state in states if state.decided_by in ("human", "human (queue)")),
            discarded_without_human=sum(1 for state in states if state.decided_by == "no human"),
            agent_success_rate=round(agreed / len(judged), 4) if judged else None,
            queue=str(queue) if waiting else None,
            human_answers_used=self.chooser.used if isinstance(self.chooser, ScriptedChooser) else 0,
            runs_made=self.runs_made,
            runs_resumed=self.runs_resumed,
            models_loaded=self.memory.loads,
            seconds=seconds,
        )


async def _ask_judges(judges: list[JudgeAgent], request: JudgeRequest) -> list[JudgeVerdict]:
    message = StructuredMessage[JudgeRequest](content=request, source="synthesis")
    token = CancellationToken()
    responses = await asyncio.gather(*(judge.on_messages([message], token) for judge in judges))
    return [response.chat_message.content for response in responses]


def _fitting(verdict: JudgeVerdict, count: int) -> JudgeVerdict:
    """The verdict, or an abstention when it names a candidate the set does not have (a custom backend's bug must
    not pick a video that does not exist)."""
    if any(index >= count for index in verdict.ranking):
        return JudgeVerdict(
            judge=verdict.judge, abstained=True, reasons=f"ranked candidates the set does not have: {verdict.ranking}"
        )
    return verdict


def _finished_or_resumable(run_dir: Path, request: VideoRequest, log: Callable[[str], None]) -> RunManifest | None:
    """The run's manifest when it can be reused or resumed; ``None`` (folder removed) when it must be made again."""
    if not run_dir.exists():
        return None
    if (run_dir / MANIFEST_NAME).is_file():
        try:
            manifest = Workspace(run_dir).load_manifest()
        except MoraError as error:
            log(f"{run_dir}: {error}; making it again")
        else:
            output = manifest.output
            if manifest.request != request:
                log(f"{run_dir}: made for another request ({manifest.request.inputs}); making it again")
            elif manifest.status != "completed" or _has_output(run_dir, output):
                return manifest
    # Killed before its manifest existed, or unusable: its seed makes the same run again.
    shutil.rmtree(run_dir)
    return None


def _has_output(run_dir: Path, output: VideoArtifact | ImageArtifact | None) -> bool:
    # Through the run's one checked door: a manifest naming a file outside the run folder is refused.
    return output is not None and Workspace(run_dir).path(output.path).is_file()


def _record(state: SetState, index: int, run_dir: Path, manifest: RunManifest) -> CandidateRecord:
    output = manifest.output
    if not isinstance(output, VideoArtifact):
        raise MoraError(
            f"task '{manifest.sop}' made no video in {run_dir}: synthesis needs a task whose output is a video"
        )
    relative = f"{CANDIDATES_DIR}/{run_dir.name}"
    first = output.parameters.get("first_frame")
    first_frame = f"{relative}/{first}" if isinstance(first, str) and Workspace(run_dir).path(first).is_file() else None
    prompt = manifest.enhanced_prompt.prompt if manifest.enhanced_prompt else state.prompt
    return CandidateRecord(
        index=index,
        run=relative,
        seed=manifest.request.seed,
        video=output.model_copy(update={"path": f"{relative}/{output.path}"}),
        prompt=prompt,
        first_frame=first_frame,
    )


def _set_file(set_dir: Path, name: str, set_id: str) -> Path:
    """A file a set's ``state.json`` names (relative to the set folder), checked to lie inside the set folder."""
    what = f"{STATE_NAME} of set {set_id}"
    return resolve_inside(set_dir, name, what=what, folder="the set folder")


def _first_frame(set_dir: Path, set_id: str, record: CandidateRecord, size: tuple[int, int], target: Path) -> None:
    """The image A4 animated, at the video's size; the video's own first frame when the run kept no image."""
    from mora_agents.media import fit_frame, load_image, save_png, video_frame

    if record.first_frame is None:
        save_png(fit_frame(video_frame(_set_file(set_dir, record.video.path, set_id), "first"), size), target)
        return
    source = _set_file(set_dir, record.first_frame, set_id)
    image = load_image(source)
    if image.size == size:
        link_atomic(source, target)
    else:
        # Training pairs the frame with the video pixel for pixel: fit it the way A4's input was fitted.
        save_png(fit_frame(image, size), target)


def _read_state(path: Path) -> SetState:
    try:
        return SetState.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError, ValueError) as error:
        detail = " ".join(str(error).split())[:160]
        raise MoraError(
            f"{path} is not a valid set state ({detail}): remove its set folder to make the set again"
        ) from None


def _key(text: str) -> str:
    return " ".join("".join(ch for ch in text.lower() if ch.isalnum() or ch.isspace()).split())


def _shown(value: object) -> str:
    return "none" if value is None else ",".join(value) if isinstance(value, list) else str(value)
