"""The embedded resolver: the trained :class:`~._ranker.PlanRanker` over all-MiniLM-L6-v2, offline on CPU.

Its probabilities decide whether to act or ask: below :data:`ASK_BELOW` for the task or for an input, the plan
is a question naming the candidates the model still weighs (at least :data:`CANDIDATE_SHARE` of the best one's
probability). The weights ship in the package (``plan_ranker.pt``); ``python -m mora_agents.director.training``
makes them again from the corpus.
"""

from __future__ import annotations

import asyncio
import functools
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from autogen_core import CancellationToken

from mora_agents.director._front import TurnReading
from mora_agents.director._plan import PlanBinding, PlanQuestion, TurnPlan, bind_inputs
from mora_agents.director._ranker import (
    BUILTIN_TASKS,
    Featurizer,
    PlanRanker,
    RankerEnsemble,
    SlotFeatures,
    TokenEncoder,
    TurnFeatures,
)
from mora_agents.errors import MoraError
from mora_agents.messages import QuestionAnswer, SessionArtifact
from mora_agents.sop import SopSpec

WEIGHTS = Path(__file__).with_name("plan_ranker.pt")
ASK_BELOW = 0.85
"""An input whose best reading has less probability than this is asked about, not guessed. Chosen on the validation
files (240 cases, the shipped ensemble; ``python -m mora_agents.director.training`` prints the sweep): at 0.7, 208
right, 15 asked where the meaning was clear, 11 silently wrong; at 0.8, 206, 20, 7; at 0.85, 205, 23, 4; at 0.9,
196, 33, 3. A silent wrong pick is the worst outcome, a needless question a small one: counting a silent wrong as
five needless questions, 0.85 costs least (43, against 48 at 0.9 and 55 at 0.8)."""
TASK_ASK_BELOW = 0.7
"""The same for the task. A user SOP the model was never trained on wins with less probability than a built-in
task, and "what do you mean?" costs more than "which clip?". With the previous weights, on the validation files
(and :data:`ASK_BELOW` 0.85), it hardly mattered: 0.5 gave 199 right, 0.7 198, 0.85 197, each 10 silently wrong."""
CANDIDATE_SHARE = 0.2
"""A question names each candidate with at least this share of the best candidate's probability."""


@dataclass
class Decision:
    """What the model made of a turn: the task, each media input's (artifact, frame), or a question."""

    task: str
    task_probability: float
    inputs: dict[str, tuple[int | None, str | None]] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    """Per input, the probability of its binding."""
    question: list[int] | None = None
    """The candidates to ask about (empty: ask which task), or ``None``."""
    unclear: str | None = None
    """The input the question is about (``None``: the task)."""
    ranking: list[tuple[str, float]] = field(default_factory=list)

    @property
    def confidence(self) -> float:
        """The plan's probability: the task's times each input's."""
        value = self.task_probability
        for p in self.probabilities.values():
            value *= p
        return value


@torch.no_grad()
def decide(
    model: PlanRanker | RankerEnsemble,
    turn: TurnFeatures,
    ask_below: float = ASK_BELOW,
    share: float = CANDIDATE_SHARE,
    task_ask_below: float | None = None,
    answered: QuestionAnswer | None = None,
) -> Decision:
    """The model's plan for ``turn``, asking where it is unsure (about the task below ``task_ask_below``, by
    default :data:`TASK_ASK_BELOW`; about an input below ``ask_below``). What a person ``answered`` to a question
    about the turn is taken as said: its task, and its inputs (the other clip of a pair is then chosen given it)."""
    probabilities = torch.softmax(model.task_logits(turn), dim=0)
    ranking = sorted(zip(turn.tasks, probabilities.tolist(), strict=True), key=lambda item: -item[1])
    task, p = ranking[0]
    if answered is not None and answered.task in turn.tasks:
        task, p = answered.task, 1.0  # the question was about this task's inputs
    decision = Decision(task, p, ranking=ranking)
    if p < (TASK_ASK_BELOW if task_ask_below is None else task_ask_below) or turn.problems:
        decision.question = []
        return decision
    slots = turn.slots[task]
    pinned = answered.inputs if answered is not None and answered.task == task else {}
    pair = [s for s in slots.values() if s.head in ("first", "second")]
    if len(pair) == 2 and len(pair[0].candidates) >= 2:
        first, second = pair
        scores = _pinned(_pinned(model.pair_scores(turn, first, second), first, pinned), second, pinned, columns=True)
        flat = torch.softmax(scores.flatten(), dim=0)
        best = int(flat.argmax())
        size = len(first.candidates)
        a, b = first.candidates[best // size], second.candidates[best % size]
        decision.inputs[first.name], decision.inputs[second.name] = (a.artifact, a.frame), (b.artifact, b.frame)
        decision.probabilities[first.name] = float(flat[best])
        if float(flat[best]) < ask_below:
            close = (flat >= share * flat[best]).nonzero().flatten().tolist()
            numbers = {first.candidates[i // size].artifact for i in close} | {
                second.candidates[i % size].artifact for i in close
            }
            # About the pair (no half of it is settled), or about the clip not yet answered for.
            about = second if first.name in pinned else first
            decision.probabilities[about.name] = decision.probabilities.pop(first.name)
            numbers -= set(pinned.values())
            decision.question, decision.unclear = sorted(n for n in numbers if n is not None), about.name
            del decision.inputs[about.name]
            if about is first:
                del decision.inputs[second.name]
            return decision
    for slot in slots.values():
        if slot.name in decision.inputs or not slot.candidates:
            continue
        if slot.head == "second" and len(slot.candidates) < 2:
            continue  # one clip is not joined to itself: the checks ask for the other (or a file fills it)
        probs = torch.softmax(_pinned(model.slot_scores(turn, slot), slot, pinned), dim=0)
        best = int(probs.argmax())
        chosen = slot.candidates[best]
        decision.inputs[slot.name] = (chosen.artifact, chosen.frame)
        decision.probabilities[slot.name] = float(probs[best])
        if float(probs[best]) < ask_below:
            close = (probs >= share * probs[best]).nonzero().flatten().tolist()
            if len(close) < 2 <= len(probs):  # a question offers a choice: the runner-up too
                close = probs.argsort(descending=True)[:2].tolist()
            numbers = {slot.candidates[i].artifact for i in close}
            decision.question, decision.unclear = sorted(n for n in numbers if n is not None), slot.name
            return decision
    return decision


def _pinned(scores: torch.Tensor, slot: SlotFeatures, pinned: Mapping[str, int], columns: bool = False) -> torch.Tensor:
    """``scores`` with every candidate but the one a person chose for ``slot`` ruled out (as they are when the
    choice is not a candidate of the slot: the checks after the model then say so)."""
    chosen = pinned.get(slot.name)
    keep = torch.as_tensor([c.artifact == chosen and c.frame is None for c in slot.candidates])
    if chosen is None or not bool(keep.any()):
        return scores
    mask = keep[None, :] if columns else (keep[:, None] if scores.dim() == 2 else keep)
    return scores.masked_fill(~mask, float("-inf"))


class LearnedResolver:
    """Fills a :class:`~._plan.TurnPlan` with the trained model; see the module docstring.

    Args:
        encode: the word-piece encoder (all-MiniLM-L6-v2 by default, loaded on first use).
        weights: the trained model (the shipped ``plan_ranker.pt`` by default).
        ask_below: :data:`ASK_BELOW`.
    """

    name = "learned"
    BUILTIN = BUILTIN_TASKS

    def __init__(self, encode: TokenEncoder | None = None, weights: Path = WEIGHTS, ask_below: float = ASK_BELOW):
        self._featurizer = Featurizer(encode or self.default_encoder())
        self._weights = weights
        self.ask_below = ask_below

    @staticmethod
    def default_encoder() -> TokenEncoder:
        from mora_tools.encoders.sentence import minilm_tokens

        return minilm_tokens

    def warm_up(self, sops: Mapping[str, SopSpec]) -> None:
        """Load the encoder and the weights, and embed every task's examples, before the first turn."""
        load_ranker(self._weights)
        self._featurizer.encoded([p for spec in sops.values() for p in (*spec.examples, spec.description)])

    async def resolve(
        self,
        reading: TurnReading,
        artifacts: Sequence[SessionArtifact],
        sops: Mapping[str, SopSpec],
        cancellation_token: CancellationToken | None = None,
    ) -> TurnPlan:
        model = load_ranker(self._weights)
        specs = list(sops.values())
        features = await asyncio.to_thread(self._featurizer.features, reading, artifacts, specs)
        decision = decide(model, features, self.ask_below, answered=reading.answered)
        return plan_of(decision, reading, sops, self.name)


def plan_of(decision: Decision, reading: TurnReading, sops: Mapping[str, SopSpec], resolver: str) -> TurnPlan:
    """The plan a decision makes (:func:`~._plan.bind_inputs`: files named in the turn first, then the model's
    bindings, then the values)."""
    spec = sops[decision.task]
    mentioned = {m.artifact: m.how for m in reading.mentions}
    chosen = {
        name: PlanBinding(
            input=name,
            artifact=number,
            frame=frame,
            probability=min(1.0, decision.probabilities.get(name, 1.0)),
            how=mentioned.get(number, "model"),
        )
        for name, (number, frame) in decision.inputs.items()
        if number is not None
    }
    bindings = bind_inputs(spec, reading, chosen)
    question = None
    if decision.question is not None:
        reason = _reason(decision, reading, sops)
        about = decision.unclear
        if about is None and reading.problems:  # "clip 7" of three: the media input it was meant for
            about = next((n for n, i in spec.inputs.items() if i.type in ("image", "video") and i.required), None)
        question = PlanQuestion(input=about, candidates=decision.question, reason=reason)
        bindings = [b for b in bindings if b.value is not None or b.input != decision.unclear]
    return TurnPlan(
        task=spec.name,
        bindings=bindings,
        question=question,
        confidence=round(decision.confidence, 4),
        resolver=resolver,
        ranking=[(task, round(p, 4)) for task, p in decision.ranking],
    )


def _reason(decision: Decision, reading: TurnReading, sops: Mapping[str, SopSpec]) -> str:
    """Why the plan asks, in the user's terms: what the closed grammar could not find, the tasks it hesitates
    between, or the input it cannot settle (by the input's own description)."""
    if reading.problems:
        return "; ".join(reading.problems)
    if decision.unclear is None:
        options = " or ".join(
            f"{sops[task].description.rstrip('.').lower()} ({task}, {p:.0%})" for task, p in decision.ranking[:2]
        )
        return f"I am not sure what to do: {options}"
    item = sops[decision.task].inputs[decision.unclear]
    what = item.description or decision.unclear.replace("_", " ")
    p = decision.probabilities.get(decision.unclear, 0.0)
    return f"I am not sure which {item.type} you mean as {what} (the likeliest fits with {p:.0%})"


@functools.cache
def load_ranker(path: Path = WEIGHTS) -> PlanRanker | RankerEnsemble:
    """The trained model at ``path`` (the shipped one by default)."""
    if not path.is_file():
        raise MoraError(
            f"the director's model is missing ({path}): reinstall mora, or run python -m mora_agents.director.training"
        )
    try:
        states = torch.load(path, weights_only=True)
        members = []
        for state in states if isinstance(states, list) else [states]:
            member = PlanRanker()
            member.load_state_dict(state)
            members.append(member)
    except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as error:
        raise MoraError(f"cannot read the director's model {path}: {str(error).splitlines()[0]}") from None
    return (members[0] if len(members) == 1 else RankerEnsemble(members)).eval()
