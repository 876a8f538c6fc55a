"""The human part of candidate selection: who picks a candidate when the judges cannot settle a set.

Four modes, one interface (:meth:`Chooser.choose` returns a :class:`Choice`, or ``None`` for "not yet"):

* ``console``: a person at the terminal sees the candidates' paths and the judges' verdicts and types
  ``2`` / ``pick 2`` or ``discard``;
* ``scripted``: answers from a list, in order (tests, CI, replayed runs);
* ``queue``: the set is written to ``DATA/queue.yaml`` with ``answer: null`` and stays pending; a person fills
  in the answers whenever they like, and the next synthesis run applies them;
* ``none``: the paper's "w/o human-in-the-loop" ablation (Table 6): an unsettled set is discarded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from mora_agents.errors import MoraError
from mora_agents.workspace import write_text_atomic

HUMAN_MODES = ("console", "scripted", "queue", "none")
MAX_ASKS = 3
"""How often the console asks again after an unusable answer."""

QUEUE_HEADER = """\
# Candidate sets the judges could not settle (mora learn synthesize, human mode queue).
# Look at each set's candidate videos, then set its answer: a candidate's number (answer: 2) keeps it,
# answer: discard drops the whole set. Run the same mora learn synthesize command again to apply the answers.
"""


@dataclass(frozen=True)
class Choice:
    """A human's (or the no-human rule's) answer for one set."""

    chosen: int | None
    """The kept candidate's index; ``None``: discard the set."""
    by: str
    """``human``, ``human (queue)`` or ``no human``."""
    answer: str | None = None
    """The answer as given, for the record."""


@dataclass(frozen=True)
class Question:
    """What a person needs to pick: the set, its candidates (paths they can open) and the judges' verdicts."""

    set_id: str
    seed_prompt: str
    criterion: str
    outcome: str
    """The judges' outcome: ``disagreed`` or ``all_abstained``."""
    videos: list[str]
    """Each candidate's video, as a path to show (relative to the data folder, or absolute)."""
    prompts: list[str]
    """Each candidate's enhanced prompt."""
    verdicts: list[dict[str, Any]]
    """Each judge's verdict as a dict (``judge``, ``top``, ``ranking``, ``reasons``, ``abstained``)."""

    def text(self, videos_root: Path | None = None) -> str:
        """The question as a person reads it; ``videos_root`` prefixes the video paths."""
        count = len(self.videos)
        why = "the judges disagreed" if self.outcome == "disagreed" else "every judge abstained"
        lines = [f"Set {self.set_id}: {why}.", f"Prompt: {self.seed_prompt}", f"Criterion: {self.criterion}"]
        for index, (video, prompt) in enumerate(zip(self.videos, self.prompts, strict=True)):
            shown = str(videos_root / video) if videos_root else video
            lines.append(f"  {index}: {shown}  ({prompt})")
        for verdict in self.verdicts:
            lines.append(f"  judge {verdict['judge']}: {_verdict_words(verdict)}")
        lines.append(f"Pick a candidate (0-{count - 1}) or discard the set:")
        return "\n".join(lines)


class Chooser(Protocol):
    """Answers for sets the judges did not settle."""

    mode: str

    def choose(self, question: Question) -> Choice | None:
        """The answer, or ``None`` when it will come later (queue)."""


def parse_choice(answer: object, count: int) -> int | None:
    """Read ``2``, ``pick 2``, ``#2`` (keep candidate 2) or ``discard`` / ``d`` (drop the set).

    Returns:
        The candidate index, or ``None`` for discard.

    Raises:
        ValueError: anything else, or an index outside ``0..count-1``.
    """
    if isinstance(answer, bool):
        # YAML reads a bare yes/no as a boolean: neither picks a candidate.
        raise ValueError(f"'{str(answer).lower()}' is neither a candidate (0 to {count - 1}) nor discard")
    if isinstance(answer, int):
        text = str(answer)
    elif isinstance(answer, str):
        text = answer.strip().lower()
    else:
        raise ValueError(f"'{answer}' is neither a candidate (0 to {count - 1}) nor discard")
    if text in ("discard", "d", "none", "drop"):
        return None
    match = re.fullmatch(r"(?:pick|keep|p|k)?\s*#?\s*(-?\d+)", text)
    if not match:
        raise ValueError(f"'{answer}' is neither a candidate (0 to {count - 1}) nor discard")
    index = int(match.group(1))
    if not 0 <= index < count:
        raise ValueError(f"'{answer}' is not a candidate: the set has candidates 0 to {count - 1}")
    return index


class ConsoleChooser:
    """Asks a person; asks again after an unusable answer (a person can fix a typo).

    Args:
        ask: shows the question, returns the answer; default: the terminal.
        videos_root: prefixed to the candidates' paths in the question (the data folder).
    """

    mode = "console"

    def __init__(self, ask: Callable[[str], str] | None = None, videos_root: Path | None = None) -> None:
        self.ask = ask or console_ask
        self.videos_root = videos_root

    def choose(self, question: Question) -> Choice:
        text = question.text(self.videos_root)
        problem = ""
        for _ in range(MAX_ASKS):
            try:
                answer = self.ask(text)
            except EOFError:
                raise MoraError(
                    f"no answer for set {question.set_id} on the console: run with --human queue to answer later"
                ) from None
            try:
                return Choice(parse_choice(answer, len(question.videos)), "human", answer.strip())
            except ValueError as error:
                problem = str(error)
                text = f"{problem}\n{question.text(self.videos_root)}"
        raise MoraError(f"no usable answer for set {question.set_id} after {MAX_ASKS} tries: {problem}")


def console_ask(question: str) -> str:
    """Show ``question`` on the terminal (no markup: paths and reasons may hold brackets) and read a line."""
    from rich.console import Console

    console = Console()
    console.print(question, markup=False, highlight=False)
    return console.input("> ")


class ScriptedChooser:
    """Answers from a list, in order; running out or a bad answer is one sentence naming the set.

    Args:
        decisions: the answers (``2``, ``pick 2``, ``discard``).
        used: how many of them earlier (resumed) runs already applied; they are skipped.
    """

    mode = "scripted"

    def __init__(self, decisions: list[str], used: int = 0) -> None:
        self.decisions = list(decisions)
        self.used = used

    def choose(self, question: Question) -> Choice:
        if self.used >= len(self.decisions):
            raise MoraError(
                f"the scripted human ran out of decisions at set {question.set_id} after {self.used}: "
                "give one --decision per set the judges do not settle"
            )
        answer = self.decisions[self.used]
        number = self.used + 1
        self.used += 1
        try:
            return Choice(parse_choice(answer, len(question.videos)), "human", str(answer).strip())
        except ValueError as error:
            raise MoraError(f"scripted decision {number} for set {question.set_id}: {error}") from None


class NoHumanChooser:
    """The "w/o human-in-the-loop" ablation: what the judges do not settle is discarded."""

    mode = "none"

    def choose(self, question: Question) -> Choice:
        return Choice(None, "no human")


class QueueChooser:
    """Keeps unsettled sets in ``queue.yaml`` for a person to answer later; applies the answers it finds.

    Args:
        path: the queue file (``DATA/queue.yaml``).
        known: set id -> number of candidates, for every set synthesis knows; answers are checked against it.
        decided: ids of sets already decided; their entries are dropped (a run killed between deciding a set and
            rewriting the queue leaves one behind).

    Raises:
        MoraError: the file is not a list of entries, an entry names an unknown set, or an answer is unusable:
            one sentence naming the set, before any model work.
    """

    mode = "queue"

    def __init__(self, path: Path, known: dict[str, int], decided: set[str]) -> None:
        self.path = path
        self.entries = [entry for entry in self._read(known) if entry["set"] not in decided]
        self._changed = False

    def choose(self, question: Question) -> Choice | None:
        entry = next((entry for entry in self.entries if entry["set"] == question.set_id), None)
        if entry is None:
            self.entries.append(_entry(question))
            self._changed = True
            return None
        if entry.get("answer") is None:
            return None
        # Checked when the file was read; the entry goes once the set is decided.
        chosen = parse_choice(entry["answer"], len(question.videos))
        return Choice(chosen, "human (queue)", str(entry["answer"]))

    def remove(self, set_id: str) -> None:
        """Drop a set's entry (its answer was applied)."""
        before = len(self.entries)
        self.entries = [entry for entry in self.entries if entry["set"] != set_id]
        self._changed |= len(self.entries) != before

    @property
    def waiting(self) -> int:
        """Entries without an answer yet."""
        return sum(1 for entry in self.entries if entry.get("answer") is None)

    def save(self) -> None:
        """Rewrite the file atomically when entries were added or removed."""
        if self._changed or (self.entries and not self.path.exists()):
            body = yaml.safe_dump(self.entries, sort_keys=False, allow_unicode=True, width=120)
            write_text_atomic(self.path, QUEUE_HEADER + body)
            self._changed = False

    def _read(self, known: dict[str, int]) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
            detail = " ".join(str(error).split())
            raise MoraError(f"{self.path} is not readable YAML ({detail[:160]}): fix it or delete it") from None
        if data is None:
            return []
        if not isinstance(data, list):
            raise MoraError(f"{self.path} must be a list of sets, got a {type(data).__name__}: fix it or delete it")
        entries = []
        for number, entry in enumerate(data, start=1):
            if not isinstance(entry, dict) or not isinstance(entry.get("set"), str):
                raise MoraError(f"{self.path} entry {number} has no 'set': each entry names its set, e.g. set: p001-v1")
            set_id = entry["set"]
            if set_id not in known:
                raise MoraError(f"{self.path} entry {number} names set {set_id}, which this data folder does not have")
            if entry.get("answer") is not None:
                try:
                    parse_choice(entry["answer"], known[set_id])
                except ValueError as error:
                    raise MoraError(f"{self.path}, set {set_id}: answer {error}") from None
            entries.append(entry)
        return entries


def _entry(question: Question) -> dict[str, Any]:
    return {
        "set": question.set_id,
        "prompt": question.seed_prompt,
        "criterion": question.criterion,
        "outcome": question.outcome,
        "candidates": [
            {"index": index, "video": video, "prompt": prompt}
            for index, (video, prompt) in enumerate(zip(question.videos, question.prompts, strict=True))
        ],
        "verdicts": [
            {"judge": verdict["judge"], "says": _verdict_words(verdict), "reasons": verdict.get("reasons", "")}
            for verdict in question.verdicts
        ],
        "answer": None,
    }


def _verdict_words(verdict: dict[str, Any]) -> str:
    if verdict.get("abstained"):
        return "abstained"
    ranking = ", ".join(str(index) for index in verdict.get("ranking", []))
    top = verdict.get("top")
    head = f"top {top}" if top is not None else "none acceptable"
    return f"{head} (ranking {ranking})"
