"""The director on the pointing corpus (tests/director_corpus/): task and clip bindings per case, with the trained
model as `mora chat` builds it. The files it was trained on must stay learned (a floor per file); the validation
files have their floor in test_director_plan.py; the test split is measured by benchmarks/director_routing.py and
never asserted on here, so nothing is tuned to it."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

from mora_agents.director import DirectorAgent
from mora_agents.director.corpus import Case, load_cases, outcome, verdict
from mora_agents.director.training import TEST_SPLIT, VALIDATION, corpus_files
from mora_agents.messages import DirectorTurn
from mora_agents.sop import SopSpec, list_sops

CORPUS = Path(__file__).parent / "director_corpus"
CATEGORIES = ("position", "content", "order", "intent", "ambiguity", "image", "derivation")
TRAINED_RIGHT = 0.9
"""Per training file, the share the shipped model must get right on its first answer. Measured: 91.7% (heldout12 and
heldout26, 55 of 60) to 100% per file; 1,131 of 1,181 cases in all (95.8%)."""
TRAINED_WRONG = 2
"""Per training file, the most cases it may run wrongly without asking (measured: 0 to 2; 8 in all)."""


def load(name: str) -> list[Case]:
    return load_cases(CORPUS / name)


@pytest.fixture(scope="module")
def director() -> DirectorAgent:
    """The embedded default, as `mora chat` builds it."""
    sops = {name: SopSpec.from_file(entry.path) for name, entry in list_sops().items()}
    return DirectorAgent("director", sops=sops)


def test_corpora_are_well_formed():
    names = sorted(p.name for p in CORPUS.glob("*.yaml"))
    assert set(TEST_SPLIT) | set(VALIDATION) <= set(names)
    for name in names:
        # YAML reads " #2" in an unquoted scalar as a comment: "edit #2 so ..." would become "edit".
        for number, line in enumerate((CORPUS / name).read_text().splitlines(), 1):
            assert not re.match(r"\s*(?:-\s+)?(?:say|video|image):\s+[^\"'].*\s#", line), f"{name}:{number}: quote it"
        cases = load(name)
        assert len(cases) >= 48, name
        assert len({c.id for c in cases}) == len(cases), f"{name}: duplicate ids"
        assert {c.category for c in cases} <= set(CATEGORIES), name
        for case in cases:
            assert 2 <= len(case.artifacts) <= 6, case.id
            assert ("ask" in case.expect) != ("task" in case.expect), case.id


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in corpus_files(CORPUS)[0]])
def test_the_director_keeps_what_it_was_trained_on(director, name, capsys):
    cases = load(name)
    director.resolver.warm_up(director.sops)  # the model load is not a routing time
    counts, seconds, wrong = Counter(), [], []
    for case in cases:
        started = time.perf_counter()
        answer, _ = asyncio.run(director.direct(DirectorTurn(text=case.say, artifacts=case.artifacts)))
        seconds.append(time.perf_counter() - started)
        counts[outcome(case, answer)] += 1
        if (problem := verdict(case, answer)) is not None:
            wrong.append(f"  {case.id} '{case.say}': {problem}")
    table = (
        f"\n{name}: {counts['right']}/{len(cases)} right, {counts['asked'] + counts['misasked']} asked, "
        f"{counts['wrong']} silently wrong; median {statistics.median(seconds) * 1000:.0f} ms\n" + "\n".join(wrong)
    )
    with capsys.disabled():
        print(table)
    assert counts["right"] >= TRAINED_RIGHT * len(cases) and counts["wrong"] <= TRAINED_WRONG, table
