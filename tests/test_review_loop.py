"""The human-in-the-loop rule (paper App. A.4) through the real agents, LLM and tiny pipelines."""

import pytest

from mora_agents.agents._faithfulness import lost_words
from mora_agents.errors import ReviewError
from mora_agents.messages import VideoRequest
from mora_agents.sop import find_sop
from mora_agents.studio import StudioConfig, run_task
from mora_agents.workspace import RunManifest, Workspace

PROMPT = "a lighthouse on a cliff"


def _run(tmp_path, decisions, seed=5):
    spec = find_sop("text_to_video")
    request = VideoRequest(task=spec.name, inputs={"prompt": PROMPT, "duration": 0.5}, seed=seed)
    config = StudioConfig(profile="tiny", review="scripted", decisions=decisions)
    return run_task(spec, request, tmp_path, config)


@pytest.mark.slow
def test_regenerate_edit_accept_drive_exactly_those_iterations(tmp_path):
    workspace, manifest = _run(tmp_path, ["regenerate", "edit warmer light", "accept", "accept"])
    first_frame = manifest.stages[1]
    assert first_frame.id == "first_frame"
    assert [str(it.decision) for it in first_frame.iterations] == ["regenerate", "edit warmer light", "accept"]
    assert all(it.decision.by == "scripted" for it in first_frame.iterations)
    one, two, three = (it.output for it in first_frame.iterations)
    # regenerate: same prompt, next seed; edit: A1 revised the prompt, the seed stays.
    assert (one.seed, two.seed, three.seed) == (5, 6, 6)
    assert one.parameters["prompt"] == two.parameters["prompt"]
    # The revision carries the instruction, whatever the LLM's words: an answer dropping it is asked for again,
    # then replaced by the prompt with the instruction appended.
    assert lost_words("warmer light", three.parameters["prompt"]) == [], three.parameters["prompt"]
    assert three.parameters["prompt"] != two.parameters["prompt"]
    assert first_frame.iterations[2].edited_by == "prompt_enhancer"
    assert not first_frame.review_exhausted
    # Each iteration kept its own file; the accepted one is the published first frame.
    assert len({one.path, two.path, three.path}) == 3
    assert workspace.path("first_frame.png").read_bytes() == workspace.path(three.path).read_bytes()
    animate = manifest.stages[2]
    assert len(animate.iterations) == 1 and animate.iterations[0].output.parameters["first_frame"] == three.path
    assert manifest.status == "completed"
    assert RunManifest.model_validate_json(workspace.path("manifest.json").read_text()) == manifest


@pytest.mark.slow
def test_a_fourth_iteration_is_refused(tmp_path):
    workspace, manifest = _run(tmp_path, ["regenerate", "regenerate", "regenerate", "accept"])
    first_frame = manifest.stages[1]
    assert len(first_frame.iterations) == 3
    assert [it.refused for it in first_frame.iterations] == [False, False, True]
    assert first_frame.review_exhausted
    assert any("refused after 3 iterations" in w for w in manifest.warnings)
    # The third image stands: it is what A4 animated.
    assert manifest.stages[2].iterations[0].output.parameters["first_frame"] == first_frame.iterations[2].output.path
    assert len(list(workspace.path("stages").glob("first_frame*.png"))) == 3
    # The 4th scripted answer went to the next reviewed stage.
    assert str(manifest.stages[2].iterations[0].decision) == "accept"


@pytest.mark.slow
def test_running_out_of_scripted_decisions_fails_cleanly(tmp_path):
    with pytest.raises(ReviewError, match="ran out of decisions after 1"):
        _run(tmp_path, ["accept"])
    (run_dir,) = tmp_path.iterdir()
    manifest = Workspace(run_dir).load_manifest()
    assert manifest.status == "failed"
    assert "ran out of decisions" in manifest.error
    assert [s.status for s in manifest.stages] == ["completed", "completed", "failed"]


@pytest.mark.slow
def test_edit_without_an_edit_agent_is_refused(tmp_path):
    with pytest.raises(ReviewError, match="stage 'animate' has no agent for edits"):
        _run(tmp_path, ["accept", "edit slower"])


@pytest.mark.slow
def test_an_image_edit_goes_to_a3_which_edits_the_result_itself(tmp_path):
    import numpy as np
    from PIL import Image

    from mora_agents.media import VideoFileWriter

    clip = tmp_path / "clip.mp4"
    with VideoFileWriter(clip, fps=8) as writer:
        for value in range(0, 200, 25):
            writer.append(np.full((64, 64, 3), value, dtype=np.uint8))
    spec = find_sop("edit_video")
    request = VideoRequest(task=spec.name, inputs={"video": str(clip), "prompt": "make it snowy"}, seed=1)
    config = StudioConfig(profile="tiny", review="scripted", decisions=["edit brighter", "accept", "accept"])
    workspace, manifest = run_task(spec, request, tmp_path / "runs", config)
    edited = manifest.stages[0]
    first, second = edited.iterations
    assert (str(first.decision), str(second.decision)) == ("edit brighter", "accept")
    assert second.edited_by == "image_to_image"
    # A3 edited the first result (not the video's frame again), with the reviewer's instruction.
    assert second.output.parameters["source"] == first.output.path
    assert second.output.parameters["instruction"] == "brighter"
    assert Image.open(workspace.path(second.output.path)).size == (64, 64)
    assert manifest.stages[1].iterations[0].output.parameters["first_frame"] == second.output.path
