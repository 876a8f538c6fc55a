"""Data-free synthesis end to end on the tiny profile: real A2, A4 runs (and A1 where variations are made), real
metric judges, scripted humans.

One module-scoped synthesis (2 prompts x 4 candidates, 0.5 s each) feeds most tests. The two metric judges below are
pinned with the seed so that on the tiny profile (random weights, deterministic on a CPU) they agree on one set and
disagree on the other: the one outcome of each kind the paper's rule has. That synthesis runs ``tests/sop/
prompt_to_clip.yaml`` (text_to_video without A1): the pictures then depend on the seed prompts and seeds only, not
on the words of the embedded LLM. Other human modes reuse that synthesis' finished candidate runs (a data folder
reuses a finished run whose request matches), so they judge and decide without running a model again. A1's part,
variations and the enhanced prompt in the rows, is checked on the built-in text_to_video: the embedded LLM decodes
greedily, so its variation of the seed prompt is a fixed answer, required to be its own (not the fallback).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mora_agents.agents._faithfulness import lost_words
from mora_agents.agents._prompt_enhancer import check_prompt
from mora_agents.errors import MoraError
from mora_agents.learning import SetState, load_training_data, parse_choice, read_prompts, synthesize
from mora_agents.learning._choosers import ConsoleChooser, Question
from mora_agents.workspace import sha256_file

SEED = 0
JUDGES = ["metric:frame_consistency=1,threshold=0", "metric:frame_consistency=1,seam_drift=-1,threshold=0"]
"""Pinned on the tiny profile with seed 0, 0.5 s videos and :data:`SOP` (measured): on p001-v1 both pick candidate 2;
on p002-v1 the first picks 3 (the steadiest frames), the second 0 (3 has a jump between frames, which seam_drift
flags). Frame consistency (mean SSIM, about 0.14-0.17 here) separates the candidates by 0.003 or more; threshold 0
makes both judges accept."""
PROMPTS = "# two seed prompts\na red kite over a green hill\n\na paper boat drifting on a pond at dawn\n"
DURATION = 0.5
SETS = ("p001-v1", "p002-v1")
SOP = Path(__file__).parent / "sop" / "prompt_to_clip.yaml"
"""A2 then A4 on the prompt as written: no LLM between the seed prompts and the pictures the judges rank."""


def _synthesize(prompts: Path, out: Path, **overrides) -> object:
    arguments = dict(candidates=4, judges=JUDGES, human="scripted", decisions=["2"], duration=DURATION, seed=SEED,
                     sop=str(SOP))  # fmt: skip
    arguments.update(overrides)
    return synthesize(prompts, out, **arguments)


def _state(data: Path, set_id: str) -> SetState:
    return SetState.model_validate_json((data / "sets" / set_id / "state.json").read_text())


def _rows(data: Path) -> list[dict]:
    return [json.loads(line) for line in (data / "metadata.jsonl").read_text().splitlines()]


def _error(call) -> str:
    with pytest.raises(MoraError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, "one sentence, one line"
    return message


@pytest.fixture(scope="module")
def prompts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("prompts") / "prompts.txt"
    path.write_text(PROMPTS)
    return path


@pytest.fixture(scope="module")
def made(prompts: Path, tmp_path_factory: pytest.TempPathFactory):
    """The synthesis every test below starts from: (DATA, summary, log lines)."""
    data = tmp_path_factory.mktemp("synth") / "DATA"
    lines: list[str] = []
    summary = _synthesize(prompts, data, log=lines.append)
    return data, summary, lines


@pytest.fixture(scope="module")
def outcomes(made) -> dict[str, str]:
    """outcome -> set id: which set the judges settled and which they left to the human."""
    data = made[0]
    return {_state(data, set_id).votes.outcome: set_id for set_id in SETS}


def _candidate_copy(made, tmp_path: Path, **settings) -> Path:
    """A new data folder holding the module synthesis' finished candidate runs and its settings with ``settings``
    changed (as if made with them and killed before any set state was written)."""
    data = tmp_path / "DATA"
    for set_id in SETS:
        shutil.copytree(made[0] / "sets" / set_id / "candidates", data / "sets" / set_id / "candidates")
    recorded = json.loads((made[0] / "synthesis.json").read_text())
    (data / "synthesis.json").write_text(json.dumps({**recorded, **settings}))
    return data


@pytest.mark.slow
def test_agreement_keeps_disagreement_goes_to_the_scripted_human(made, outcomes) -> None:
    data, summary, lines = made
    assert set(outcomes) == {"agreed", "disagreed"}, "the pinned judges give one outcome of each kind"
    agreed, disagreed = outcomes["agreed"], outcomes["disagreed"]
    assert (summary.sets, summary.kept, summary.discarded, summary.pending) == (2, 2, 0, 0)
    assert (summary.by_judges, summary.by_human, summary.agent_success_rate) == (1, 1, 0.5)
    assert (summary.runs_made, summary.human_answers_used) == (8, 1)
    assert summary.models_loaded == 2, "A2 and A4 load once for all 8 runs (memory policy keep)"

    rows = {row["set_id"]: row for row in _rows(data)}
    assert list(rows) == sorted(rows) == list(SETS)
    human_row, judged_row = rows[disagreed], rows[agreed]
    assert (human_row["decided_by"], human_row["chosen"]) == ("human", 2)
    assert judged_row["decided_by"] == "judges"
    state = _state(data, agreed)
    assert judged_row["chosen"] == state.votes.verdicts[0].top == state.votes.verdicts[1].top
    for set_id, row in rows.items():
        state = _state(data, set_id)
        assert row["file_name"] == f"samples/{set_id}/video.mp4" and row["first_frame"].endswith("first_frame.png")
        assert row["criterion"] == state.criterion and len(row["votes"]) == 2
        assert [vote["judge"] for vote in row["votes"]] == [v.judge for v in state.votes.verdicts]
        chosen = state.candidates[row["chosen"]]
        manifest = json.loads((data / "sets" / set_id / chosen.run / "manifest.json").read_text())
        assert manifest["enhanced_prompt"] is None, "no A1 in this task"
        assert row["prompt"] == manifest["request"]["inputs"]["prompt"] == state.seed_prompt, "what A2 and A4 got"
        assert row["seed"] == manifest["request"]["seed"] == chosen.seed
        assert (row["width"], row["height"], row["fps"], row["num_frames"]) == (64, 64, 8.0, 4)
        assert (row["candidates"], row["iteration"], row["sop"], row["profile"]) == (4, 1, "prompt_to_clip", "tiny")
        assert sha256_file(data / row["file_name"]) == chosen.video.sha256
    assert sorted({c.seed for s in SETS for c in _state(data, s).candidates}) == list(
        range(SEED * 10**6, SEED * 10**6 + 8)
    )
    assert any("judges agreed" in line for line in lines) and any("kept candidate 2" in line for line in lines)
    settings = json.loads((data / "synthesis.json").read_text())
    assert (settings["candidates"], settings["human"], settings["judges"]) == (4, "scripted", JUDGES)


@pytest.mark.slow
def test_hugging_face_and_the_training_loader_read_the_data(made, tmp_path: Path) -> None:
    import datasets

    data = made[0]
    loaded = datasets.load_dataset("videofolder", data_dir=str(data), cache_dir=str(tmp_path / "hf"))["train"]
    assert loaded.num_rows == 2
    assert loaded["prompt"] == [row["prompt"] for row in _rows(data)]
    samples = load_training_data(data, size=(64, 64))
    assert [sample.set_id for sample in samples] == list(SETS)
    assert {sample.decided_by for sample in samples} == {"judges", "human"}


@pytest.mark.slow
def test_rerunning_the_same_command_does_nothing(made, prompts: Path) -> None:
    data = made[0]
    files = [data / "metadata.jsonl", data / "synthesis.json", *(data / "sets" / s / "state.json" for s in SETS)]
    before = {path: path.stat().st_mtime_ns for path in files}
    # How long this takes is measured in benchmarks/learn_loop.py (a finished loop run again), not asserted here.
    summary = _synthesize(prompts, data)
    assert (summary.runs_made, summary.runs_resumed, summary.models_loaded) == (0, 0, 0)
    assert (summary.kept, summary.by_human, summary.human_answers_used) == (2, 1, 1)
    assert {path: path.stat().st_mtime_ns for path in files} == before


@pytest.mark.slow
def test_a_half_made_set_is_finished_without_redoing_the_rest(made, outcomes, prompts: Path, tmp_path: Path) -> None:
    """As if killed in the set's third run: c0 finished and recorded, c1 killed in its last stage, c2 never made,
    c3 finished but not yet recorded in the set's state."""
    original = made[0]
    data = tmp_path / "DATA"
    shutil.copytree(original, data)
    set_id = outcomes["agreed"]
    folder = data / "sets" / set_id
    state = _state(data, set_id)
    state.status, state.votes, state.decided_by, state.chosen, state.sample = "pending", None, None, None, None
    state.candidates = state.candidates[:1]
    (folder / "state.json").write_text(state.model_dump_json(indent=2))
    shutil.rmtree(data / "samples" / set_id)
    shutil.rmtree(folder / "candidates/c2")
    manifest_path = folder / "candidates/c1/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["status"], manifest["output"], manifest["stages"] = "running", None, manifest["stages"][:-1]
    manifest_path.write_text(json.dumps(manifest))
    kept = {k: (folder / f"candidates/c{k}/manifest.json").stat().st_mtime_ns for k in (0, 3)}

    summary = _synthesize(prompts, data)
    assert (summary.runs_made, summary.runs_resumed) == (1, 1)
    assert {k: (folder / f"candidates/c{k}/manifest.json").stat().st_mtime_ns for k in (0, 3)} == kept
    for k in (1, 2):
        video = f"sets/{set_id}/candidates/c{k}/video.mp4"
        assert sha256_file(data / video) == sha256_file(original / video), "same seed, same video"
    assert (data / "metadata.jsonl").read_text() == (original / "metadata.jsonl").read_text()
    assert summary.kept == 2 and _state(data, set_id).decided_by == "judges"


@pytest.mark.slow
def test_queue_mode_waits_for_an_answer_then_applies_it(made, outcomes, prompts: Path, tmp_path: Path) -> None:
    data = _candidate_copy(made, tmp_path, human="queue")
    first = _synthesize(prompts, data, human="queue", decisions=None)
    assert (first.runs_made, first.models_loaded) == (0, 0), "finished runs are reused"
    assert (first.kept, first.pending, first.queue) == (1, 1, str(data / "queue.yaml"))
    waiting = outcomes["disagreed"]
    entries = yaml.safe_load((data / "queue.yaml").read_text())
    assert [entry["set"] for entry in entries] == [waiting] and entries[0]["answer"] is None
    assert len(entries[0]["candidates"]) == 4 and len(entries[0]["verdicts"]) == 2
    assert (data / entries[0]["candidates"][1]["video"]).is_file(), "paths a person can open, relative to DATA"
    assert _state(data, waiting).status == "pending" and len(_rows(data)) == 1

    again = _synthesize(prompts, data, human="queue", decisions=None)
    assert (again.pending, len(yaml.safe_load((data / "queue.yaml").read_text()))) == (1, 1), "no duplicate entry"

    entries[0]["answer"] = "seven"
    (data / "queue.yaml").write_text(yaml.safe_dump(entries))
    message = _error(lambda: _synthesize(prompts, data, human="queue", decisions=None))
    assert f"queue.yaml, set {waiting}: answer 'seven' is neither a candidate (0 to 3) nor discard" in message

    entries[0]["answer"] = 1
    (data / "queue.yaml").write_text(yaml.safe_dump(entries))
    final = _synthesize(prompts, data, human="queue", decisions=None)
    assert (final.kept, final.pending, final.by_human, final.queue, final.models_loaded) == (2, 0, 1, None, 0)
    assert yaml.safe_load((data / "queue.yaml").read_text()) == []
    row = {row["set_id"]: row for row in _rows(data)}[waiting]
    assert (row["decided_by"], row["chosen"]) == ("human (queue)", 1)


@pytest.mark.slow
def test_without_a_human_disagreement_discards_the_set(made, outcomes, prompts: Path, tmp_path: Path) -> None:
    data = _candidate_copy(made, tmp_path, human="none")
    summary = _synthesize(prompts, data, human="none", decisions=None)
    assert (summary.kept, summary.discarded, summary.discarded_without_human, summary.by_human) == (1, 1, 1, 0)
    assert _state(data, outcomes["disagreed"]).status == "discarded"
    assert [row["set_id"] for row in _rows(data)] == [outcomes["agreed"]]


@pytest.mark.slow
def test_console_human_is_asked_again_after_a_typo(made, outcomes, prompts: Path, tmp_path: Path) -> None:
    data = _candidate_copy(made, tmp_path, human="console")
    questions: list[str] = []
    answers = iter(["pick nine", "discard"])

    def ask(question: str) -> str:
        questions.append(question)
        return next(answers)

    summary = _synthesize(prompts, data, human="console", decisions=None, ask=ask)
    assert (summary.discarded, summary.by_human, summary.kept) == (1, 1, 1)
    assert f"Set {outcomes['disagreed']}: the judges disagreed." in questions[0]
    assert "Pick a candidate (0-3) or discard the set:" in questions[0]
    assert questions[1].startswith("'pick nine' is neither a candidate")


@pytest.mark.slow
def test_scripted_human_running_out_or_answering_nonsense(made, outcomes, prompts: Path, tmp_path: Path) -> None:
    data = _candidate_copy(made, tmp_path / "a")
    message = _error(lambda: _synthesize(prompts, data, decisions=[]))
    assert f"the scripted human ran out of decisions at set {outcomes['disagreed']} after 0" in message
    data = _candidate_copy(made, tmp_path / "b")
    message = _error(lambda: _synthesize(prompts, data, decisions=["4"]))
    assert f"scripted decision 1 for set {outcomes['disagreed']}: '4' is not a candidate" in message


@pytest.mark.slow
def test_other_settings_on_the_same_folder_are_refused(made, prompts: Path, tmp_path: Path) -> None:
    data = made[0]
    assert "was made with candidates=4, not 3" in _error(lambda: _synthesize(prompts, data, candidates=3))
    assert "was made with human=scripted, not none" in _error(
        lambda: _synthesize(prompts, data, human="none", decisions=None)
    )
    changed = tmp_path / "prompts.txt"
    changed.write_text("a blue kite\n")
    assert "prompt 1 is 'a blue kite', but" in _error(lambda: _synthesize(changed, data))
    stranger = tmp_path / "other"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    assert "is not empty and holds no synthesis.json" in _error(lambda: _synthesize(prompts, stranger))


@pytest.mark.slow
def test_variants_come_from_a1_and_differ(prompts: Path, tmp_path: Path) -> None:
    seed_prompt = "a red kite over a green hill"
    one = tmp_path / "one.txt"
    one.write_text(seed_prompt + "\n")
    data = tmp_path / "DATA"
    # The built-in text_to_video, A1 included; a judge that accepts any video, so both sets become rows.
    keep_all = "metric:frame_consistency=1,threshold=-1"
    summary = synthesize(one, data, candidates=1, variants=2, judges=[keep_all], human="none", duration=DURATION)
    assert (summary.sets, summary.kept) == (2, 2)
    assert summary.models_loaded == 3, "the variations and the runs share one LLM; A2 and A4 load once"
    plain, varied = _state(data, "p001-v1"), _state(data, "p001-v2")
    assert (plain.prompt, plain.prompt_source) == (seed_prompt, "seed")
    # SmolLM2 decodes greedily: its variation of this seed prompt is a new, longer prompt that keeps every word asked
    # for (not the fixed camera/light pairing A1's unusable answers get).
    assert (varied.prompt_source, varied.prompt_note) == ("llm", None), varied
    assert varied.prompt != plain.prompt and check_prompt(varied.prompt) is None
    assert lost_words(seed_prompt, varied.prompt) == [], varied.prompt
    assert len(varied.prompt.split()) >= len(seed_prompt.split()) + 4, varied.prompt
    # Each row holds the prompt A2 and A4 received: A1's enhancement of the set's prompt.
    for row in _rows(data):
        state = _state(data, row["set_id"])
        manifest = json.loads((data / "sets" / row["set_id"] / state.candidates[0].run / "manifest.json").read_text())
        assert manifest["request"]["inputs"]["prompt"] == state.prompt and manifest["llm"].startswith("embedded:")
        assert row["prompt"] == manifest["enhanced_prompt"]["prompt"] and row["seed_prompt"] == seed_prompt


@pytest.mark.slow
def test_a_variation_a1_cannot_use_is_the_seed_with_a_fixed_camera_and_light(tmp_path: Path, monkeypatch) -> None:
    """The fallback's exact contract: an unusable answer, or one that repeats an earlier prompt of the seed, becomes
    the seed prompt with the next camera/light pairing, and the set says why."""
    from autogen_core.models import ModelFamily
    from autogen_ext.models.replay import ReplayChatCompletionClient

    import mora_agents.llm
    from mora_agents.learning.prompts import CAMERAS, LIGHTS

    seed_prompt = "a red kite over a green hill"
    info = {"vision": False, "function_calling": False, "json_output": True, "family": ModelFamily.UNKNOWN,
            "structured_output": True}  # fmt: skip
    answers = ['{"prompt": ""}', '{"prompt": "A Red Kite over a green hill!"}']  # empty; the seed prompt again
    replay = mora_agents.llm.LlmBackend(ReplayChatCompletionClient(answers, model_info=info), "replay")
    monkeypatch.setattr(mora_agents.llm, "create_llm", lambda *args, **kwargs: replay)
    one = tmp_path / "one.txt"
    one.write_text(seed_prompt + "\n")
    keep_all = "metric:frame_consistency=1,threshold=-1"
    summary = synthesize(one, tmp_path / "DATA", candidates=1, variants=3, judges=[keep_all], human="none",
                         duration=DURATION, sop=str(SOP))  # fmt: skip
    assert (summary.sets, summary.kept) == (3, 3)
    empty, repeated = _state(tmp_path / "DATA", "p001-v2"), _state(tmp_path / "DATA", "p001-v3")
    assert (empty.prompt, empty.prompt_source, empty.prompt_note) == (
        f"{seed_prompt}, {CAMERAS[0]}, {LIGHTS[0]}",
        "fallback",
        "the LLM's prompt was unusable (empty); kept the user's prompt",
    )
    assert (repeated.prompt, repeated.prompt_source, repeated.prompt_note) == (
        f"{seed_prompt}, {CAMERAS[1]}, {LIGHTS[1]}",
        "fallback",
        "A1 repeated an earlier prompt",
    )


def test_bad_prompts_files_are_one_sentence(tmp_path: Path) -> None:
    assert "prompts file not found" in _error(lambda: read_prompts(tmp_path / "none.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n")
    assert "holds no prompt: write one seed prompt per line" in _error(lambda: read_prompts(empty))
    mapping = tmp_path / "p.yaml"
    mapping.write_text("prompt: a kite\n")
    assert "must be a YAML list of prompts, got a dict" in _error(lambda: read_prompts(mapping))
    mixed = tmp_path / "q.yaml"
    mixed.write_text("- a kite\n- 3\n")
    assert "item 2 is not a text prompt" in _error(lambda: read_prompts(mixed))
    broken = tmp_path / "r.yml"
    broken.write_text("- [unclosed\n")
    assert "is not valid YAML" in _error(lambda: read_prompts(broken))
    good = tmp_path / "s.yaml"
    good.write_text("- a kite\n- '  a   boat '\n")
    assert read_prompts(good) == ["a kite", "a boat"]


def test_bad_arguments_fail_before_any_work(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("a kite\n")
    out = tmp_path / "DATA"
    assert "unknown human mode 'robot'" in _error(lambda: synthesize(prompts, out, judges=["metric"], human="robot"))
    assert "needs at least one judge" in _error(lambda: synthesize(prompts, out, judges=[]))
    assert "unknown judge 'oracle'" in _error(lambda: synthesize(prompts, out, judges=["oracle"]))
    message = _error(lambda: synthesize(prompts, out, judges=["metric"], human="queue", decisions=["1"]))
    assert "decisions are answers for human mode scripted" in message
    assert "needs the input 'image'" in _error(
        lambda: synthesize(prompts, out, judges=["metric"], sop="image_to_video")
    )
    assert not out.exists(), "nothing is created before the arguments are checked"


def test_choices_and_the_console_question() -> None:
    assert [parse_choice(a, 4) for a in ("2", "pick 3", "#0", " Keep 1 ", 2, "discard", "d")] == [
        2,
        3,
        0,
        1,
        2,
        None,
        None,
    ]
    for bad in ("4", "-1", "seven", True, None, 2.5):
        with pytest.raises(ValueError):
            parse_choice(bad, 4)
    question = Question(
        set_id="p001-v1",
        seed_prompt="a kite",
        criterion="Temporal coherence.",
        outcome="all_abstained",
        videos=["sets/p001-v1/candidates/c0/video.mp4", "sets/p001-v1/candidates/c1/video.mp4"],
        prompts=["A kite [red]", "A kite"],
        verdicts=[{"judge": "openai:m", "abstained": True, "ranking": [], "top": None, "reasons": "server down"}],
    )
    answers = iter(["", "1"])
    choice = ConsoleChooser(lambda text: next(answers), videos_root=Path("/data")).choose(question)
    assert (choice.chosen, choice.by) == (1, "human")
    text = question.text(Path("/data"))
    assert "every judge abstained" in text and "/data/sets/p001-v1/candidates/c1/video.mp4" in text
    assert "judge openai:m: abstained" in text

    def eof(text: str) -> str:
        raise EOFError

    assert "run with --human queue" in _error(lambda: ConsoleChooser(eof).choose(question))
