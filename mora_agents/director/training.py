"""Train the embedded director's model (:mod:`._ranker`) on the director corpus: one command reproduces it.

    python -m mora_agents.director.training            # trains, prints the validation table, writes the weights

Training files: ``dev.yaml`` and ``heldout*.yaml`` except the validation files (which choose the epoch count and
the asking threshold) and the test split (never read here: :data:`TEST_SPLIT`), plus generated sessions
(:mod:`.training_data`). Seeded: the same corpus gives the same weights. About 15 minutes on two CPU cores: 2 to
read the corpus with the encoder, 13 to train three models.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from mora_agents.director._front import read_turn
from mora_agents.director._learned import WEIGHTS, LearnedResolver, decide
from mora_agents.director._ranker import Featurizer, PlanRanker, RankerEnsemble, TurnFeatures
from mora_agents.director.corpus import Case, load_cases
from mora_agents.director.training_data import Phrases, generate, load_phrases
from mora_agents.sop import SopSpec, list_sops

TEST_SPLIT = tuple(f"heldout{n}.yaml" for n in (17, 20, 21, 22, 27, 28, 29, 30))
"""Blind files nothing is trained or tuned on: they measure the director."""
VALIDATION = ("heldout14.yaml", "heldout15.yaml", "heldout16.yaml", "heldout19.yaml")
"""Blind files that choose the epochs and the asking threshold, and are not trained on."""
EPOCHS = 30
MEMBERS = 3
"""Models trained from different seeds; the shipped weights are their ensemble (probabilities averaged)."""
GENERATED = 3000
"""Generated cases (:mod:`.training_data`) added to the corpus' training cases."""
WIDE_DECAY = 0.01
"""AdamW weight decay of the turn-vector projections: the bulk of the weights, and what memorises sentences."""
AS_USER_SOP = 0.25
"""The share of training turns whose task is scored as a user SOP's would be (no learned projection of its own):
a user SOP is never in the training data, and its examples must be able to win on their own."""
QUESTION_WEIGHT = 3.0
"""A question's case counts this many times: there are few of them, and asking is what keeps a pick honest."""
SEED = 0


def corpus_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """(training files, validation files) in ``folder``; the test split is left out of both."""
    files = sorted(p for p in folder.glob("*.yaml") if p.name not in TEST_SPLIT)
    return [p for p in files if p.name not in VALIDATION], [p for p in files if p.name in VALIDATION]


Example = tuple[Case, TurnFeatures]


def featurize(cases: list[Case], featurizer: Featurizer, specs: list[SopSpec]) -> list[Example]:
    examples = []
    for case in cases:
        reading = read_turn(case.say, case.artifacts)
        examples.append((case, featurizer.features(reading, case.artifacts, specs)))
    return examples


def generated_cases(corpus: list[Case], phrases: Phrases, count: int, seed: int = SEED) -> list[Case]:
    """``count`` generated cases built from the words of the corpus' sessions and the phrase banks."""
    videos = [a.prompt for c in corpus for a in c.artifacts if a.task == "text_to_video" and a.prompt]
    images = [a.prompt for c in corpus for a in c.artifacts if a.task == "input" and a.prompt]
    return generate(videos, images, phrases, count, seed)


def loss(model: PlanRanker, case: Case, turn: TurnFeatures, as_user_sop: bool = False) -> torch.Tensor | None:
    """Cross-entropy of the expected task (scored as a user SOP's with ``as_user_sop``) and of each expected media
    input; a question's cases: :func:`_question_loss`."""
    if "task" not in case.expect:
        return _question_loss(model, case, turn)
    task = case.expect["task"]
    logits = model.task_logits(turn, frozenset({task}) if as_user_sop else frozenset())
    total = torch.nn.functional.cross_entropy(logits[None], torch.tensor([turn.tasks.index(task)]))
    slots = turn.slots[task]
    media = case.media()

    def target(name: str) -> int | None:
        if name not in media or name not in slots:
            return None
        number, frame = media[name]
        found = [i for i, c in enumerate(slots[name].candidates) if (c.artifact, c.frame) == (number, frame)]
        return found[0] if found else None

    heads = {name: slot.head for name, slot in slots.items()}
    if "first" in heads.values() and "second" in heads.values():
        first = next(n for n, h in heads.items() if h == "first")
        second = next(n for n, h in heads.items() if h == "second")
        a, b = target(first), target(second)
        if a is not None and b is not None and a != b:
            scores = model.pair_scores(turn, slots[first], slots[second]).flatten()
            total = total + torch.nn.functional.cross_entropy(
                scores[None], torch.tensor([a * len(slots[first].candidates) + b])
            )
    for name, slot in slots.items():
        if slot.head in ("first", "second"):
            continue
        wanted = target(name)
        if wanted is None and slot.head == "optional_image" and "inputs" in case.expect:
            wanted = len(slot.candidates) - 1  # left empty
        if wanted is not None and len(slot.candidates) > 1:
            scores = model.slot_scores(turn, slot)
            total = total + torch.nn.functional.cross_entropy(scores[None], torch.tensor([wanted]))
    return total


def _question_loss(model: PlanRanker, case: Case, turn: TurnFeatures) -> torch.Tensor | None:
    """A question's case: the input it is about should spread its probability evenly over the candidates named.
    The input is the first one, of the task the model picks now, whose candidates hold them all."""
    wanted = set(case.expect["ask"])
    if not wanted:
        return None
    with torch.no_grad():
        likely = model.task_logits(turn).argsort(descending=True).tolist()
    for task in (turn.tasks[k] for k in likely):
        for slot in turn.slots[task].values():
            numbers = [c.artifact if c.frame is None else None for c in slot.candidates]
            if wanted <= set(numbers):
                target = torch.tensor([float(n in wanted) / len(wanted) for n in numbers])
                scores = torch.log_softmax(model.slot_scores(turn, slot), dim=0)
                return -QUESTION_WEIGHT * (target * scores).sum()
    return None


def train(examples: list[Example], epochs: int = EPOCHS, seed: int = SEED) -> PlanRanker:
    torch.manual_seed(seed)
    order = list(range(len(examples)))
    model = PlanRanker()
    wide = [
        model.place_query,
        model.task_projection,
        model.place_attention,
        model.content_attention,
        model.task_attention,
        model.strength_attention,
        model.place_context,
        model.content_context,
        model.numeral_context,
    ]
    narrow = [p for p in model.parameters() if all(p is not q for q in wide)]
    optimiser = torch.optim.AdamW(
        [{"params": wide, "weight_decay": WIDE_DECAY}, {"params": narrow, "weight_decay": 0.0}], lr=0.01
    )
    rng = random.Random(seed)
    for _epoch in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), 16):
            optimiser.zero_grad()
            losses = [loss(model, *examples[i], rng.random() < AS_USER_SOP) for i in order[start : start + 16]]
            losses = [value for value in losses if value is not None]
            if losses:
                torch.stack(losses).mean().backward()
                optimiser.step()
    return model


def evaluate(model: PlanRanker | RankerEnsemble, examples: list[Example], ask_below: float) -> dict[str, int]:
    """Outcomes as :func:`~mora_agents.director.corpus.outcome` counts them."""
    counts = {"right": 0, "asked": 0, "misasked": 0, "wrong": 0}
    for case, turn in examples:
        counts[_outcome(case, decide(model, turn, ask_below))] += 1
    return counts


def _outcome(case: Case, decision) -> str:
    if decision.question is not None:
        if "ask" in case.expect:
            return "right" if sorted(decision.question) == sorted(case.expect["ask"]) else "misasked"
        return "asked"
    if "ask" in case.expect or decision.task != case.expect["task"]:
        return "wrong"
    for name, (number, frame) in case.media().items():
        if decision.inputs.get(name) != (number, frame):
            return "wrong"
    return "right"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("tests/director_corpus"), help="the corpus folder")
    parser.add_argument("--out", type=Path, default=WEIGHTS, help="where to write the weights")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--members", type=int, default=MEMBERS, help="models in the ensemble")
    parser.add_argument("--generated", type=int, default=GENERATED, help="generated cases to add")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir():
        print(f"no corpus folder at {args.corpus}: run from the repository root or pass --corpus", file=sys.stderr)
        return 2
    specs = [SopSpec.from_file(entry.path) for entry in list_sops().values()]
    specs = [s for s in specs if s.name in LearnedResolver.BUILTIN]
    featurizer = Featurizer(LearnedResolver.default_encoder())
    train_files, validation_files = corpus_files(args.corpus)
    started = time.perf_counter()
    corpus = [c for f in train_files for c in load_cases(f)]
    generated = generated_cases(corpus, load_phrases(args.corpus), args.generated)
    training = featurize(corpus + generated, featurizer, specs)
    validation = featurize([c for f in validation_files for c in load_cases(f)], featurizer, specs)
    print(
        f"read {len(training)} training and {len(validation)} validation cases in {time.perf_counter() - started:.0f} s"
    )
    started = time.perf_counter()
    members = [train(training, args.epochs, seed) for seed in range(args.members)]
    print(f"trained {args.members} x {args.epochs} epochs in {time.perf_counter() - started:.0f} s")
    model = members[0] if len(members) == 1 else RankerEnsemble(members)
    for ask_below in (0.6, 0.7, 0.8, 0.85, 0.9):
        print(
            f"ask below {ask_below}: training {evaluate(model, training, ask_below)}, "
            f"validation {evaluate(model, validation, ask_below)}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save([member.state_dict() for member in members], args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    raise SystemExit(main())
