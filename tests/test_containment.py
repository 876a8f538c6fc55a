"""Nothing escapes its folder: resolve_inside itself, then every reader of a path from a file, each given a crafted
file (a manifest, a session.json, a session script, a DATA row, a set's state, an adapters folder) that points out.

The crafted folders are written by hand (JSON, a few bytes of "video"), so the refusals cost milliseconds; each test
also checks that a well-formed neighbour still works, so a guard that refused everything would fail here too.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mora_agents.cli import app
from mora_agents.containment import check_tree_inside, is_inside, resolve_inside
from mora_agents.errors import MoraError
from mora_agents.media import VideoFileWriter
from mora_agents.messages import JudgeRequest, SessionArtifact, VideoArtifact, VideoRequest
from mora_agents.session import Session, SessionScript, TurnRecord, script_files
from mora_agents.workspace import RunManifest, Workspace

SECRET = b"not yours"
WIDE = {"COLUMNS": "400"}


def invoke(*args: str):
    """The CLI in this process, as the quick error tests of test_evaluation.py run it."""
    return CliRunner().invoke(app, list(args), env=WIDE)


def one_sentence(result, *phrases: str) -> str:
    """The CLI failed with exit code 2 and one ``error:`` sentence holding ``phrases``, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(line.strip() for line in result.output.strip().splitlines())
    # Only a progress bar may come before it (mora learn train draws one as it starts).
    assert text.count("error:") == 1, text
    sentence = text[text.index("error:") :]
    for phrase in phrases:
        assert phrase in sentence, sentence
    return sentence


def refused(call, *phrases: str) -> str:
    """``call()`` raised one MoraError sentence holding ``phrases``."""
    with pytest.raises(MoraError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message, message
    for phrase in phrases:
        assert phrase in message, message
    return message


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every folder under test."""
    path = tmp_path / "secret.mp4"
    path.write_bytes(SECRET)
    return path


# --- resolve_inside ----------------------------------------------------------------------------------------------


def test_nested_and_not_yet_written_paths_resolve_inside(tmp_path):
    (tmp_path / "stages").mkdir()
    assert resolve_inside(tmp_path, "stages/a4.mp4", what="w") == (tmp_path / "stages" / "a4.mp4").resolve()
    assert resolve_inside(tmp_path, "new/deeper/file.png", what="w") == (tmp_path / "new/deeper/file.png").resolve()
    # ".." that stays inside is no escape.
    assert resolve_inside(tmp_path, "stages/../video.mp4", what="w") == (tmp_path / "video.mp4").resolve()


@pytest.mark.parametrize(
    ("name", "phrase"),
    [("/etc/passwd", "an absolute path"), ("~/.ssh/id_rsa", "home folder"), ("../../etc/passwd", "outside")],
)
def test_absolute_home_and_dotdot_paths_are_refused(tmp_path, name, phrase):
    root = tmp_path / "run"
    root.mkdir()
    message = refused(
        lambda: resolve_inside(root, name, what="manifest.json of run r1", folder="the run folder"),
        "manifest.json of run r1",
        f"'{name}'",
        phrase,
        f"the run folder {root.resolve()}",
    )
    if phrase == "outside":
        assert f"-> {(root / name).resolve()}, which is outside" in message


def test_absolute_paths_may_be_allowed_but_must_still_lie_inside(tmp_path, secret):
    root = tmp_path / "session"
    (root / "runs").mkdir(parents=True)
    inside = root / "runs" / "video.mp4"
    assert resolve_inside(root, str(inside), what="w", absolute=True) == inside.resolve()
    refused(lambda: resolve_inside(root, str(secret), what="w", absolute=True), "outside", str(secret))


def test_a_symlink_pointing_out_is_refused_and_one_pointing_in_is_fine(tmp_path, secret):
    root = tmp_path / "run"
    (root / "stages").mkdir(parents=True)
    (root / "stages" / "a4.mp4").write_bytes(b"video")
    (root / "out.mp4").symlink_to(secret)
    (root / "elsewhere").symlink_to(tmp_path)
    (root / "video.mp4").symlink_to(root / "stages" / "a4.mp4")
    refused(lambda: resolve_inside(root, "out.mp4", what="w"), f"'out.mp4' -> {secret.resolve()}", "outside")
    refused(lambda: resolve_inside(root, "elsewhere/secret.mp4", what="w"), "outside")
    assert resolve_inside(root, "video.mp4", what="w") == (root / "stages" / "a4.mp4").resolve()


def test_nul_bytes_and_symlink_loops_are_one_sentence(tmp_path):
    refused(lambda: resolve_inside(tmp_path, "video\x00.mp4", what="w"), "NUL byte")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    refused(lambda: resolve_inside(tmp_path, "a/x.png", what="w"), "cannot be resolved")
    assert not is_inside(tmp_path, "a\x00b") and not is_inside(tmp_path, tmp_path / "a" / "x.png")


def test_check_tree_inside_finds_a_deep_symlink_out(tmp_path, secret):
    root = tmp_path / "adapters"
    (root / "text_to_image").mkdir(parents=True)
    (root / "text_to_image" / "weights.safetensors").write_bytes(b"w")
    (root / "copy.safetensors").symlink_to(root / "text_to_image" / "weights.safetensors")
    check_tree_inside(root, what="adapters 'x'")  # inside -> inside: fine
    (root / "text_to_image" / "stolen.safetensors").symlink_to(secret)
    refused(lambda: check_tree_inside(root, what="adapters 'x'"), "text_to_image/stolen.safetensors", "outside")


# --- manifests: Workspace.path, mora eval, mora eval export-vbench --------------------------------------------------


def write_run(folder: Path, output: str, prompt: str = "a red kite over a green hill") -> Path:
    """A run folder with a hand-written manifest whose output video is ``output``."""
    folder.mkdir(parents=True, exist_ok=True)
    video = VideoArtifact(path=output, sha256="0" * 64, model_id="tiny", seed=0, seconds=0.0, width=64, height=64,
                          fps=8.0, num_frames=4)  # fmt: skip
    manifest = RunManifest(
        run_id=folder.name,
        mora_version="test",
        created="2026-01-01T00:00:00+00:00",
        status="completed",
        sop="text_to_video",
        profile="tiny",
        llm="none",
        review="auto",
        request=VideoRequest(task="text_to_video", inputs={"prompt": prompt}),
        output=video,
    )
    (folder / "manifest.json").write_text(manifest.model_dump_json(indent=2))
    return folder


@pytest.fixture
def crafted_runs(tmp_path, secret) -> dict[str, Path]:
    """Runs whose manifest's output leads out of the run folder: by ``..``, absolutely, through a symlink."""
    runs = tmp_path / "runs"
    linked = write_run(runs / "symlink", "video.mp4")
    (linked / "video.mp4").symlink_to(secret)
    return {
        "dotdot": write_run(runs / "dotdot", "../../secret.mp4"),
        "absolute": write_run(runs / "absolute", str(secret)),
        "symlink": linked,
    }


def test_workspace_path_is_the_checked_door(crafted_runs, secret):
    for name, run in crafted_runs.items():
        workspace = Workspace(run)
        output = workspace.load_manifest().output.path
        refused(lambda w=workspace, o=output: w.path(o), f"manifest.json of run {name}", "the run folder")
    assert Workspace(crafted_runs["symlink"]).path("stages/a2.png") == crafted_runs["symlink"] / "stages/a2.png"


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_export_vbench_refuses_a_crafted_manifest_and_links_nothing(crafted_runs, tmp_path, kind):
    good = write_run(tmp_path / "runs" / "good", "video.mp4")
    (good / "video.mp4").write_bytes(b"a real video")
    out = tmp_path / "vbench"
    # The good run comes first: a refusal later in the list must still leave nothing behind.
    result = invoke("eval", "export-vbench", str(good), str(crafted_runs[kind]), "--out", str(out))
    one_sentence(result, f"manifest.json of run {kind}", "the run folder")
    assert not out.exists()
    result = invoke("eval", "export-vbench", str(good), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert [p.read_bytes() for p in out.iterdir()] == [b"a real video"]


def test_eval_of_a_crafted_run_is_one_sentence(crafted_runs):
    one_sentence(invoke("eval", str(crafted_runs["dotdot"]), "--metrics-profile", "tiny"), "outside the run folder")


# --- session.json: run folders, artifacts, routed requests -----------------------------------------------------------


def crafted_session(root: Path, **record) -> Path:
    """A session folder whose session.json is the real one's, changed by ``record``."""
    session = Session.create(root, "crafted")
    data = json.loads(session.record.model_dump_json()) | record
    (root / "session.json").write_text(json.dumps(data))
    (root / "script.yaml").write_text("name: crafted\nturns:\n  - say: a red kite over a green hill, 1 second\n")
    return root


def turn(run_dir: str | None, **fields) -> dict:
    request = {"task": "text_to_video", "inputs": {"prompt": "a red kite", "duration": 1}, "seed": 0}
    return {"index": 1, "text": "a red kite", "status": "running", "request": request, "run_dir": run_dir} | fields


def test_resume_refuses_a_run_folder_outside_the_session(tmp_path):
    outside = write_run(tmp_path / "elsewhere" / "run", "video.mp4")
    crafted_session(tmp_path / "s1", turns=[turn("../elsewhere/run")])
    one_sentence(invoke("run", "--resume", str(tmp_path / "s1")), "session.json of session s1 turn 1",
                 "outside the session folder")  # fmt: skip
    # Through a symlink too.
    crafted_session(tmp_path / "s2", turns=[turn("runs/turn-01-text_to_video")])
    (tmp_path / "s2" / "runs" / "turn-01-text_to_video").symlink_to(outside, target_is_directory=True)
    one_sentence(invoke("run", "--resume", str(tmp_path / "s2")), "outside the session folder")
    assert json.loads((outside / "manifest.json").read_text())["status"] == "completed"  # untouched


def test_artifacts_outside_the_session_are_refused_by_resume_and_route(tmp_path, secret):
    artifact = SessionArtifact(index=1, kind="video", path=str(secret), turn=1, task="text_to_video", prompt="x")
    folder = crafted_session(tmp_path / "s", artifacts=[artifact.model_dump()])
    one_sentence(invoke("run", "--resume", str(folder)), "artifact 1", "outside the session folder")
    result = invoke("route", "extend it by 2 seconds", "--session", str(folder), "--llm", "none")
    one_sentence(result, "artifact 1", "outside the session folder")
    # The session's own artifact (absolute, as recorded) opens; the same file named from another session does not.
    own = tmp_path / "own"
    crafted_session(own, artifacts=[artifact.model_copy(update={"path": str(own / "runs" / "v.mp4")}).model_dump()])
    assert Session.open(own).record.artifacts[0].path == str(own / "runs" / "v.mp4")
    crafted_session(tmp_path / "other", artifacts=[artifact.model_copy(update={"path": str(own / "runs" / "v.mp4")})
                                                   .model_dump()])  # fmt: skip
    refused(lambda: Session.open(tmp_path / "other"), "artifact 1", "outside the session folder")


def test_a_routed_request_naming_a_file_outside_the_session_is_not_resumed(tmp_path):
    from mora_agents.conversation import Conversation
    from mora_agents.studio import StudioConfig

    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(photo)
    session = Session.create(tmp_path / "s", "crafted")
    request = VideoRequest(task="image_to_video", inputs={"image": str(photo), "duration": 1})
    record = TurnRecord(index=1, text="animate it", status="routed", request=request, run_dir="runs/turn-01")
    session.record.turns.append(record)
    session.save()
    reopened = Session.open(session.root)
    conversation = Conversation(reopened, StudioConfig(profile="tiny"))
    refused(lambda: asyncio.run(conversation.resume(reopened.record.turns[0])), "turn 1 (input 'image')",
            f"'{photo}' -> {photo.resolve()}", "outside the session folder")  # fmt: skip
    assert not (session.root / "runs" / "turn-01").exists()


# --- session scripts -----------------------------------------------------------------------------------------------


def write_script(folder: Path, say: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "script.yaml"
    path.write_text(f"name: files\nreview: auto\nturns:\n  - say: {json.dumps(say)}\n")
    return path


@pytest.mark.parametrize(
    ("name", "phrase"),
    [("../../secret.png", "outside"), ("/abs/secret.png", "an absolute path"), ("linked.png", "outside"),
     ("~/secret.png", "home folder")],
)  # fmt: skip
def test_a_script_naming_a_file_outside_its_folder_makes_nothing(tmp_path, name, phrase):
    Image.new("RGB", (64, 64)).save(tmp_path / "secret.png")
    scripts = tmp_path / "a" / "scripts"
    script = write_script(scripts, f"animate {name.replace('/abs', str(tmp_path))}, 1 second")
    (scripts / "linked.png").symlink_to(tmp_path / "secret.png")
    out = tmp_path / "session"
    one_sentence(invoke("run", str(script), "--out", str(out)), f"session script {script} turn 1", phrase,
                 "the script's folder")  # fmt: skip
    assert not out.exists()


def test_a_script_naming_files_inside_its_folder_links_them_into_the_session(tmp_path):
    scripts = tmp_path / "scripts"
    (scripts / "photos").mkdir(parents=True)
    Image.new("RGB", (64, 64), (10, 200, 10)).save(scripts / "photos" / "cat.png")
    (scripts / "same.png").symlink_to(scripts / "photos" / "cat.png")  # inside -> inside
    script = write_script(scripts, "animate photos/cat.png, then same.png, 1 second")
    files = script_files(SessionScript.from_file(script), script)
    assert files == {"photos/cat.png": (scripts / "photos/cat.png").resolve(), "same.png": files["photos/cat.png"]}
    session = Session.create(tmp_path / "s", "files")
    session.import_files(files)
    copied = session.inputs_dir / "photos" / "cat.png"
    assert copied.read_bytes() == (scripts / "photos" / "cat.png").read_bytes()
    assert (session.inputs_dir / "same.png").is_file() and not (session.inputs_dir / "same.png").is_symlink()
    missing = write_script(tmp_path / "other", "animate nothing.png, 1 second")
    refused(lambda: script_files(SessionScript.from_file(missing), missing), "'nothing.png'", "not a file")


@pytest.mark.slow
def test_a_scripted_session_animates_its_own_photo_from_the_session_folder(tmp_path):
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(scripts / "cat.png")
    script = write_script(scripts, "animate cat.png, 1 second")
    result = invoke("run", str(script), "--out", str(tmp_path / "s"))
    assert result.exit_code == 0, result.output
    session = Session.open(tmp_path / "s")
    (done,) = session.record.turns
    assert done.status == "completed" and done.request.task == "image_to_video"
    assert Path(done.request.inputs["image"]) == (tmp_path / "s" / "inputs" / "cat.png").resolve()


def test_a_confined_conversation_refuses_a_routed_name_outside_its_folder(tmp_path):
    # The second gate, at routing: what a request names (a server's upload, a resumed old session) is checked too.
    from mora_agents.conversation import Conversation
    from mora_agents.studio import StudioConfig

    Image.new("RGB", (64, 64)).save(tmp_path / "secret.png")
    session = Session.create(tmp_path / "s", "confined")
    conversation = Conversation(session, StudioConfig(profile="tiny"), base_dir=session.inputs_dir, confine=True)
    turn = conversation.take_turn("animate ../../secret.png, 1 second", seed=0)
    refused(lambda: asyncio.run(turn), "turn 1 of session s",
            "'../../secret.png' ->", "outside the folder its files come from")  # fmt: skip
    (recorded,) = Session.open(session.root).record.turns
    assert recorded.status == "failed" and recorded.run_dir is None and not list(session.runs_dir.iterdir())


@pytest.mark.slow
def test_a_chat_links_a_file_from_elsewhere_into_the_session_before_using_it(tmp_path):
    from mora_agents.conversation import Conversation
    from mora_agents.studio import StudioConfig

    photo = tmp_path / "mine" / "photo.png"
    photo.parent.mkdir()
    Image.new("RGB", (64, 64), (10, 200, 10)).save(photo)
    session = Session.create(tmp_path / "chat", "chat")
    conversation = Conversation(session, StudioConfig(profile="tiny"), base_dir=tmp_path / "mine")
    done = asyncio.run(conversation.take_turn("animate photo.png, 1 second", seed=0))
    linked = (session.inputs_dir / "turn-01" / "image.png").resolve()
    assert done.status == "completed" and Path(done.request.inputs["image"]) == linked
    assert linked.read_bytes() == photo.read_bytes()
    # What session.json now names lies inside the session: a resume would accept it.
    reopened = Session.open(session.root)
    assert reopened.session_file(reopened.record.turns[0].request.inputs["image"], what="w") == linked


# --- DATA rows and a set's state -----------------------------------------------------------------------------------


def write_video(path: Path, size: tuple[int, int] = (64, 64), frames: int = 4) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with VideoFileWriter(path, fps=8) as writer:
        for index in range(frames):
            writer.append(np.full((size[1], size[0], 3), 40 * index, dtype=np.uint8))


def data_row(**changes) -> dict:
    row = {
        "file_name": "samples/p001-v1/video.mp4",
        "first_frame": "samples/p001-v1/first_frame.png",
        "prompt": "A red kite over a green hill",
        "seed_prompt": "a red kite over a green hill",
        "set_id": "p001-v1",
        "sop": "text_to_video",
        "profile": "tiny",
        "seed": 0,
        "width": 64,
        "height": 64,
        "fps": 8,
        "num_frames": 4,
        "criterion": "Temporal coherence",
        "decided_by": "judges",
        "chosen": 0,
        "candidates": 1,
        "iteration": 1,
    }
    return row | changes


@pytest.fixture
def data(tmp_path) -> Path:
    """A one-row DATA folder whose video is a symlink to a video outside it."""
    root = tmp_path / "DATA"
    write_video(tmp_path / "outside.mp4")
    (root / "samples" / "p001-v1").mkdir(parents=True)
    (root / "samples" / "p001-v1" / "video.mp4").symlink_to(tmp_path / "outside.mp4")
    Image.new("RGB", (64, 64)).save(root / "samples" / "p001-v1" / "first_frame.png")
    (root / "metadata.jsonl").write_text(json.dumps(data_row()) + "\n")
    return root


def test_data_rows_that_lead_out_of_the_data_folder_are_refused(data):
    from mora_agents.learning import load_training_data

    refused(lambda: load_training_data(data), "line 1 (set p001-v1)", "'samples/p001-v1/video.mp4' ->",
            "outside the data folder")  # fmt: skip
    for name, phrase in [("../x.mp4", "relative to the data folder"), ("samples/p001-v1/vid\x00eo.mp4", "NUL")]:
        (data / "metadata.jsonl").write_text(json.dumps(data_row(file_name=name)) + "\n")
        refused(lambda: load_training_data(data), "line 1", phrase)
    # The same folder with the video really inside loads.
    (data / "samples" / "p001-v1" / "video.mp4").unlink()
    write_video(data / "samples" / "p001-v1" / "video.mp4")
    (data / "metadata.jsonl").write_text(json.dumps(data_row()) + "\n")
    assert [s.set_id for s in load_training_data(data)] == ["p001-v1"]


def test_mora_learn_train_on_escaping_data_is_one_sentence_and_makes_no_run(data, tmp_path):
    run = tmp_path / "run"
    one_sentence(invoke("learn", "train", str(data), "--out", str(run)), "outside the data folder")
    assert not run.exists()


def test_training_batches_check_the_rows_again_when_they_read(data):
    from mora_agents.learning import TrainingSample
    from mora_agents.learning.batches import image_to_video_batch, text_to_image_batch

    sample = TrainingSample.model_validate(data_row())
    refused(lambda: image_to_video_batch(data, [sample], frames=4, fps=8), "outside the data folder")
    assert text_to_image_batch(data, [sample]).images.shape == (1, 3, 64, 64)  # its first frame is inside


def synthesis_folder(root: Path, prompts: Path) -> None:
    """The synthesis.json a ``synthesize(prompts, root, candidates=1, judges=["metric"], human="none")`` writes."""
    root.mkdir(parents=True)
    settings = {"sop": "text_to_video", "profile": "tiny", "candidates": 1, "variants": 1, "judges": ["metric"],
                "human": "none", "seed": 0, "iteration": 1, "adapters": None, "duration": None, "llm": None,
                "criterion_seed": None, "prompts": prompts.read_text().split("\n")[:1]}  # fmt: skip
    (root / "synthesis.json").write_text(json.dumps({"mora_version": "test", "created": "now", **settings}))


def test_synthesis_refuses_a_set_state_or_candidate_manifest_that_leads_out(tmp_path, secret):
    from mora_agents.learning import candidate_seed, synthesize

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red kite over a green hill\n")
    arguments = {"candidates": 1, "judges": ["metric"], "human": "none"}
    # A set whose state names a candidate video outside the set folder.
    data = tmp_path / "DATA"
    synthesis_folder(data, prompts)
    video = VideoArtifact(path="../../../secret.mp4", sha256="0" * 64, model_id="tiny", seed=0, seconds=0.0,
                          width=64, height=64, fps=8.0, num_frames=4)  # fmt: skip
    state = {"set_id": "p001-v1", "number": 0, "seed_prompt": "a red kite over a green hill", "variant": 1,
             "prompt": "a red kite over a green hill", "prompt_source": "seed", "criterion": "Temporal coherence",
             "candidates": [{"index": 0, "run": "candidates/c0", "seed": 0, "video": video.model_dump(),
                             "prompt": "a red kite"}]}  # fmt: skip
    (data / "sets" / "p001-v1").mkdir(parents=True)
    (data / "sets" / "p001-v1" / "state.json").write_text(json.dumps(state))
    refused(lambda: synthesize(prompts, data, **arguments), "state.json of set p001-v1", "outside the set folder")
    # A candidate run whose manifest names an output outside its run folder (synthesis reads other runs' manifests).
    other = tmp_path / "DATA2"
    synthesis_folder(other, prompts)
    request = VideoRequest(task="text_to_video", inputs={"prompt": "a red kite over a green hill"},
                           seed=candidate_seed(0, 0, 1, 0))  # fmt: skip
    run = write_run(other / "sets" / "p001-v1" / "candidates" / "c0", str(secret))
    manifest = json.loads((run / "manifest.json").read_text()) | {"request": request.model_dump()}
    (run / "manifest.json").write_text(json.dumps(manifest))
    refused(lambda: synthesize(prompts, other, **arguments), "manifest.json of run c0", "the run folder")
    assert secret.read_bytes() == SECRET and not (other / "samples").exists()


def test_a_judge_abstains_on_a_candidate_outside_its_folder(tmp_path, secret):
    from mora_agents.agents import MetricJudge

    run = tmp_path / "run"
    write_video(run / "video.mp4")
    candidate = VideoArtifact(path="video.mp4", sha256="0" * 64, model_id="tiny", seed=0, seconds=0.0, width=64,
                              height=64, fps=8.0, num_frames=4)  # fmt: skip
    crafted = candidate.model_copy(update={"path": "../secret.mp4"})
    judge = MetricJudge()
    verdict = judge.judge(JudgeRequest(request="x", criterion="c", candidates=[candidate, crafted]), run)
    assert verdict.abstained and "candidate 1" in verdict.reasons and "outside the run folder" in verdict.reasons
    assert not judge.judge(JudgeRequest(request="x", criterion="c", candidates=[candidate]), run).abstained


# --- adapters --------------------------------------------------------------------------------------------------------


def test_adapters_that_lead_out_of_the_run_folder_are_refused(tmp_path):
    from mora_tools.adapters.apply import adapters_dir

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "modulation.safetensors").write_bytes(b"z")
    linked_folder = tmp_path / "run1"
    linked_folder.mkdir()
    (linked_folder / "adapters").symlink_to(elsewhere, target_is_directory=True)
    refused(lambda: adapters_dir(linked_folder), f"adapters '{linked_folder}'", "outside the run folder")
    linked_file = tmp_path / "run2"
    (linked_file / "adapters").mkdir(parents=True)
    (linked_file / "adapters" / "modulation.safetensors").symlink_to(elsewhere / "modulation.safetensors")
    refused(lambda: adapters_dir(linked_file), "'modulation.safetensors' ->", "outside the adapters folder")
    out = tmp_path / "runs"
    result = invoke("generate", "text-to-video", "-p", "a kite", "--adapters", str(linked_file), "--out", str(out))
    one_sentence(result, "outside the adapters folder")
    assert not out.exists()
    # A symlink inside -> inside is fine.
    fine = tmp_path / "run3" / "adapters"
    (fine / "trained").mkdir(parents=True)
    (fine / "trained" / "z.safetensors").write_bytes(b"z")
    (fine / "modulation.safetensors").symlink_to(fine / "trained" / "z.safetensors")
    assert adapters_dir(tmp_path / "run3") == fine.resolve()
