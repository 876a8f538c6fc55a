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

import os
import random
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from mora_agents.agents import CRITERIA, JudgeAgent, judge_from_spec
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
from mora_agents.learning.candidate_runs import CandidateRuns, set_folder
from mora_agents.learning.data_folder import open_data_folder, read_state
from mora_agents.learning.dataset import QUEUE_NAME, SETS_DIR, STATE_NAME, SetState, SynthesisSettings
from mora_agents.learning.judge_votes import collect_votes, describe_votes
from mora_agents.learning.prompts import read_prompts, vary_prompt
from mora_agents.learning.samples import make_sample, rebuild_metadata
from mora_agents.workspace import now_iso, write_text_atomic


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
        seed: base seed; candidate seeds follow :func:`~mora_agents.learning.candidate_runs.candidate_seed`.
        iteration: the learning loop's iteration, recorded in every row.
        duration: seconds per video; ``None``: the SOP's default.
        llm: A1's LLM backend (``embedded``, ``openai``); ``None``: from the environment.
        criterion_seed: seeds the criterion draw; ``None``: ``seed``.
        device: torch device for the models; ``None``: the best found.
        dtype: ``float32`` / ``float16`` / ``bfloat16`` overriding the profile's.
        progress: a ``mora_tools.pipelines.progress.ProgressSink`` for the candidate runs' stages.
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
    """One synthesis call over one DATA folder: the sets in order, each made, judged and decided."""

    def __init__(self, root: Path, settings: SynthesisSettings, spec, judges, log, progress, device, dtype) -> None:
        from mora_agents.studio import StudioConfig
        from mora_tools.loading.memory import ModelMemory
        from mora_tools.loading.profiles import load_profile

        self.root = root
        self.settings = settings
        self.judges: list[JudgeAgent] = judges
        self.log = log
        config = StudioConfig(
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
        self.candidate_runs = CandidateRuns(spec, settings, config, self.memory, progress, log)
        self.states: dict[str, SetState] = {}
        self.plan: list[tuple[str, int, int]] = []
        """(set id, prompt index, variant) in set-number order."""
        self.chooser: Chooser | None = None

    # -- set-up ------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create or check the folder and its settings; read the states of the sets made so far."""
        open_data_folder(self.root, self.settings)
        for prompt_index in range(len(self.settings.prompts)):
            for variant in range(1, self.settings.variants + 1):
                # A fixed width: ids stay the same when prompts are appended (p1000 just sorts early).
                self.plan.append((f"p{prompt_index + 1:03d}-v{variant}", prompt_index, variant))
        for set_id, _, _ in self.plan:
            path = self.set_dir(set_id) / STATE_NAME
            if path.is_file():
                self.states[set_id] = read_state(path)

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
                self.candidate_runs.finish(state, self.set_dir(state.set_id), self._save)
                if state.votes is None:
                    self._judge(state)
                if state.status == "pending":
                    self._decide(state)
        finally:
            if isinstance(self.chooser, QueueChooser):
                self.chooser.save()
            rebuild_metadata(self.root, self.settings, self.states)

    def set_dir(self, set_id: str) -> Path:
        return set_folder(self.root, set_id)

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
        from mora_agents.llm import create_llm

        key = f"llm/{self.settings.llm or 'default'}"  # the studio's key: the runs' A1 shares this LLM
        llm = self.memory.acquire(key, lambda: create_llm(self.settings.llm, seed=self.settings.seed))
        return vary_prompt(llm, seed_prompt, variant, self.settings.variants, earlier)

    def _judge(self, state: SetState) -> None:
        state.votes = collect_votes(self.judges, state, self.set_dir(state.set_id).resolve())
        self._save(state)
        self.log(f"{state.set_id}: judges {state.votes.outcome} ({describe_votes(state.votes)})")

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
        state.sample = make_sample(self.root, self.settings, state, choice.chosen, choice.by)
        state.status, state.decided_by, state.chosen, state.answer = "decided", choice.by, choice.chosen, choice.answer
        state.queued = False
        self._save(state)
        rebuild_metadata(self.root, self.settings, self.states)
        self.log(f"{state.set_id}: kept candidate {choice.chosen} (decided by {choice.by})")

    def _discard(self, state: SetState, choice: Choice) -> None:
        state.status, state.decided_by, state.chosen, state.answer = "discarded", choice.by, None, choice.answer
        state.queued = False
        self._save(state)
        self.log(f"{state.set_id}: discarded (decided by {choice.by})")

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
            runs_made=self.candidate_runs.made,
            runs_resumed=self.candidate_runs.resumed,
            models_loaded=self.memory.loads,
            seconds=seconds,
        )
