"""Multi-turn sessions through the real director, agents and tiny pipelines: replay, chat, kill -9, resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mora_agents.media import iter_frames, video_frame
from mora_agents.session import Session
from mora_agents.workspace import RunManifest
from mora_tools.loading.models import cpu_numerics
from tests.cli_in_process import mora_here

EXAMPLES = Path(__file__).parents[1] / "examples" / "sessions"


def mora(*args, stdin=None):
    """`mora ARGS` in this process (the kill test starts its own child)."""
    return mora_here(*args, stdin=stdin)


def manifest_of(session: Session, turn) -> RunManifest:
    return RunManifest.model_validate_json((session.root / turn.run_dir / "manifest.json").read_text())


def frames(path) -> list[np.ndarray]:
    return [frame.astype(float) for _, frame in iter_frames(path)]


@pytest.fixture(scope="module")
def story(tmp_path_factory) -> Session:
    folder = tmp_path_factory.mktemp("story") / "session"
    result = mora("run", str(EXAMPLES / "story.yaml"), "--out", str(folder))
    assert result.returncode == 0, result.stderr
    return Session.open(folder)


@pytest.mark.slow
def test_the_story_session_makes_the_expected_chain(story):
    turns = story.record.turns
    assert [t.status for t in turns] == ["completed"] * 4
    assert [t.request.task for t in turns] == ["text_to_video", "edit_video", "extend_video", "connect_videos"]
    assert [a.index for a in story.record.artifacts] == [1, 2, 3, 4]
    first, edited, extended, connected = (Path(a.path) for a in story.record.artifacts)
    # Turn 2 edited turn 1's video, turn 3 extended turn 2's, turn 4 connected the first and the second.
    assert Path(turns[1].request.inputs["video"]) == first
    assert Path(turns[2].request.inputs["video"]) == edited
    assert (Path(turns[3].request.inputs["video"]), Path(turns[3].request.inputs["video2"])) == (first, edited)
    assert turns[0].request.inputs["duration"] == 2 and turns[2].request.inputs["duration"] == 2
    # The duration went to its own input, not into the picture's prompt.
    assert turns[0].request.inputs["prompt"] == "a paper boat drifting on a pond at dawn"


@pytest.mark.slow
def test_the_extension_really_starts_from_the_previous_last_frame(story):
    turn = story.record.turns[2]
    edited = frames(Path(story.record.artifacts[1].path))
    extended = frames(Path(story.record.artifacts[2].path))
    manifest = manifest_of(story, turn)
    continuation = manifest.stages[0].iterations[0].output
    # A4 was conditioned on exactly the previous video's last frame...
    condition = np.asarray(Image.open(story.root / turn.run_dir / continuation.parameters["first_frame"]), dtype=float)
    assert np.abs(condition - np.asarray(video_frame(story.record.artifacts[1].path, "last"), dtype=float)).mean() < 1
    # ...and the result is the previous video followed by the new frames.
    assert len(extended) == len(edited) + continuation.num_frames
    assert np.mean([np.abs(a - b).mean() for a, b in zip(edited, extended, strict=False)]) < 6


@pytest.mark.slow
def test_the_director_asks_instead_of_guessing(tmp_path):
    script = tmp_path / "ask.yaml"
    script.write_text("name: ask\nreview: auto\nturns:\n  - say: extend it\n")
    result = mora("run", str(script), "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    session = Session.open(tmp_path / "s")
    (turn,) = session.record.turns
    assert turn.status == "asked" and turn.request is None and turn.run_dir is None
    assert "video" in turn.question.question.lower()
    assert not list((tmp_path / "s" / "runs").iterdir())
    events = [e["event"] for e in session.transcript()]
    assert events == ["user", "director"]


@pytest.mark.slow
def test_kill_9_in_the_middle_of_a_stage_then_resume_equals_an_uninterrupted_run(tmp_path):
    script = tmp_path / "two.yaml"
    script.write_text(
        "name: two\nseed: 5\nreview: scripted\nturns:\n"
        "  - say: a paper boat on a pond, 1 second\n    decisions: [accept, accept]\n"
        "  - say: make it 2 seconds longer\n    decisions: [accept]\n"
    )
    whole = tmp_path / "whole"
    assert mora("run", str(script), "--out", str(whole)).returncode == 0
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "mora_agents.cli", "run", str(script), "--out", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for_running_stage(killed, "turn-02", "continuation", process)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=60)
    interrupted = json.loads(next((killed / "runs").glob("turn-02*/manifest.json")).read_text())
    assert interrupted["status"] == "running" and interrupted["stages"][-1]["status"] == "running"
    result = mora("run", "--resume", str(killed))
    assert result.returncode == 0, result.stderr
    a, b = Session.open(whole), Session.open(killed)
    assert [t.status for t in b.record.turns] == ["completed", "completed"]
    for turn_a, turn_b in zip(a.record.turns, b.record.turns, strict=True):
        ma, mb = manifest_of(a, turn_a), manifest_of(b, turn_b)
        assert mb.status == "completed"
        assert fingerprint(ma) == fingerprint(mb), torch_numerics()
        assert ma.output.sha256 == mb.output.sha256
        files_a = sorted(
            p.relative_to(a.root / turn_a.run_dir) for p in (a.root / turn_a.run_dir).rglob("*") if p.is_file()
        )
        files_b = sorted(
            p.relative_to(b.root / turn_b.run_dir) for p in (b.root / turn_b.run_dir).rglob("*") if p.is_file()
        )
        assert files_a == files_b, "no partial or duplicate files are left behind"
    events = [e["event"] for e in b.transcript()]
    assert events.count("completed") == 2


def torch_numerics() -> str:
    """Where bytes differ between this process and a child: torch's threads and kernels in each."""
    probe = "from mora_tools.loading.models import cpu_numerics; print(cpu_numerics())"
    child = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    return f"torch here: {cpu_numerics()}; in a child: {child}"


def fingerprint(manifest: RunManifest) -> list:
    """Each stage's id and each iteration's result: a file's sha256, or an enhanced prompt's text."""
    return [
        (s.id, s.status, [getattr(it.output, "sha256", None) or it.output.prompt for it in s.iterations])
        for s in manifest.stages
    ]


def _wait_for_running_stage(session_dir: Path, run_prefix: str, stage: str, process, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the session ended before the stage started"
        for path in (
            (session_dir / "runs").glob(f"{run_prefix}*/manifest.json") if (session_dir / "runs").is_dir() else []
        ):
            stages = json.loads(path.read_text()).get("stages", [])
            if stages and stages[-1]["id"] == stage and stages[-1]["status"] == "running":
                time.sleep(0.3)  # well inside the stage: its pipeline is denoising
                return
        time.sleep(0.02)
    raise AssertionError(f"stage {stage} never started")


@pytest.mark.slow
def test_review_auto_overrides_the_scripted_decisions(tmp_path):
    script = tmp_path / "s.yaml"
    script.write_text("name: s\nreview: scripted\nturns:\n  - say: a red kite over a hill, 1 second\n")
    failed = mora("run", str(script), "--out", str(tmp_path / "a"))
    assert failed.returncode == 2 and "scripted review needs decisions" in failed.stderr
    assert mora("run", str(script), "--out", str(tmp_path / "b"), "--review", "auto").returncode == 0


@pytest.mark.slow
def test_a_judge_panel_reviews_a_scripted_session(tmp_path):
    script = tmp_path / "judged.yaml"
    # Two metric judges that disagree on every video (one accepts anything, one nothing): the script breaks ties.
    script.write_text(
        "name: judged\nreview: judge\njudges: [metric, 'metric:motion_smoothness=1,threshold=1.5']\nturns:\n"
        "  - say: a red kite over a hill, 1 second\n    decisions: [accept, regenerate, accept]\n"
    )
    result = mora("run", str(script), "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    session = Session.open(tmp_path / "s")
    manifest = manifest_of(session, session.record.turns[0])
    assert manifest.review == "judge" and manifest.status == "completed"
    decisions = {stage.id: [it.decision for it in stage.iterations] for stage in manifest.stages if stage.iterations}
    # Still images: the metric judges abstain, so the script answers.
    assert [(d.action, d.by) for d in decisions["first_frame"]] == [("accept", "human after all judges abstained")]
    animate = decisions["animate"]
    assert [(d.action, d.by, d.votes.outcome) for d in animate] == [
        ("regenerate", "human after judges disagreed", "disagreed"),
        ("accept", "human after judges disagreed", "disagreed"),
    ]
    # A judge panel without judges is refused before anything runs, naming the field.
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\nreview: judge\nturns:\n  - say: a kite\n")
    result = mora("run", str(bare), "--out", str(tmp_path / "bare"))
    assert result.returncode == 2 and "review judge needs judges" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_chat_commands(tmp_path):
    lines = "a red kite over a green hill, 1 second\n/list\n/open 7\n/sop\n/undo\n/list\n/bogus\n/quit\n"
    result = mora("chat", "--review", "auto", "--session", str(tmp_path / "chat"), stdin=lines)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # What the director understood comes first, then the result; /list names each artifact as turns refer to it.
    assert 'studio> make a new video of 1 s: "a red kite over a green hill"' in out
    assert out.index("studio> make a new video") < out.index("text_to_video done: #1")
    assert "clip 1" in out
    assert "text_to_video done: #1" in out
    assert "/open N needs an artifact number between 1 and 1" in out
    assert "extend_video:" in out and "forgot turn 1" in out and "no artifacts yet" in out
    assert "unknown command /bogus" in out
    session = Session.open(tmp_path / "chat")
    assert [t.status for t in session.record.turns] == ["undone"]


def test_session_errors_are_one_sentence(tmp_path):
    result = mora("run", "--resume", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "no session in" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nturns: []\n")
    result = mora("run", str(bad))
    assert result.returncode == 2 and "turns" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_pointing_by_content_and_frame_then_answering_the_question_by_number(tmp_path):
    result = mora("run", str(EXAMPLES / "pointing.yaml"), "--out", str(tmp_path / "s"))
    assert result.returncode == 0, result.stderr
    session = Session.open(tmp_path / "s")
    turns, artifacts = session.record.turns, session.record.artifacts
    assert [t.status for t in turns] == ["completed", "completed", "completed", "asked", "completed"]
    kite, lighthouse, animated, snowy = artifacts
    # Turn 3 animated the kite clip's first frame: the PNG in inputs/ is that frame, bound as such.
    (binding,) = turns[2].request.bindings
    assert (binding.input, binding.artifact, binding.frame, binding.how) == ("image", 1, "first", "model")
    frame = Path(turns[2].request.inputs["image"])
    assert frame == session.root / "inputs" / "turn-03" / "image-first-frame.png"
    assert np.abs(np.asarray(Image.open(frame), float) - np.asarray(video_frame(kite.path, "first"), float)).mean() < 1
    # Two clips show a kite now: the director asked, listing both with their numbers, and "#1" answered.
    assert turns[3].question.candidates == [1, 3] and turns[3].question.missing == ["video"]
    assert "#1 clip 1 (a red kite" in turns[3].question.question and "#3 clip 3" in turns[3].question.question
    assert turns[4].request.task == "edit_video" and Path(turns[4].request.inputs["video"]) == Path(kite.path)
    assert turns[4].request.bindings[0].how == "listed"
    assert (animated.sources, snowy.sources) == ([1], [1])
    # What was understood is said before each run, in the log and in the transcript.
    understood = 'edit clip 1 (a red kite dancing over a windy hill): "make the kite one snowy"'
    assert f"turn 5: {understood}" in " ".join(result.stderr.split())
    events = [e for e in session.transcript() if e["event"] == "director"]
    assert turns[4].meant == "make the kite one snowy" and turns[4].answered.inputs == {"video": 1}
    said = {"turn": 5, "understood_as": "make the kite one snowy", "answered": {"video": 1}}
    assert said.items() <= events[-2].items()
    assert events[-1]["understood"] == understood
