import re
from pathlib import Path

import pytest

from mora_agents.errors import MoraError
from mora_agents.resources import data_dir
from mora_agents.sop import SopSpec, find_sop

GOOD = """\
name: demo
description: demo task
inputs:
  prompt: {type: text, required: true}
  duration: {type: seconds, default: 2}
steps:
  - id: enhance
    agent: A1
    with: {prompt: $inputs.prompt}
  - id: first_frame
    agent: text_to_image
    with: {prompt: $enhance.prompt}
    review: {on_edit: prompt_enhancer}
  - id: animate
    agent: A4
    with: {image: $first_frame.image, duration: $inputs.duration}
output: animate
"""


def test_builtin_text_to_video_loads():
    spec = find_sop("text-to-video")
    assert spec.name == "text_to_video"
    assert [s.role for s in spec.steps] == ["prompt_enhancer", "text_to_image", "image_to_video"]
    assert spec.steps[1].review.max_iterations == 3
    assert spec.output == "animate"
    assert (data_dir("sop") / "text_to_video.yaml").is_file()


def test_good_sop_and_input_binding():
    spec = SopSpec.from_text(GOOD, "demo.yaml")
    assert spec.bind_inputs({"prompt": "a cat"}) == {"prompt": "a cat", "duration": 2.0}
    with pytest.raises(MoraError, match="needs the input 'prompt'"):
        spec.bind_inputs({})
    with pytest.raises(MoraError, match="has no input 'colour'"):
        spec.bind_inputs({"prompt": "x", "colour": "red"})
    with pytest.raises(MoraError, match="duration"):
        spec.bind_inputs({"prompt": "x", "duration": "long"})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("agent: A4", "agent: A9"), "steps[2].agent: unknown agent 'A9'"),
        (
            ("$first_frame.image", "$later.image"),
            "steps[2].with.image: $later.image refers to step 'later', which does not exist",
        ),
        (
            ("{prompt: $enhance.prompt}", "{prompt: $animate.video}"),
            "steps[1].with.prompt: $animate.video refers to step 'animate', which is defined later",
        ),
        (("id: animate", "id: enhance"), "steps[2].id: 'enhance' is already the id of an earlier step"),
        (("$inputs.duration", "$inputs.length"), "steps[2].with.duration: $inputs.length names no declared input"),
        (("$inputs.duration", "inputs.duration"), "did you mean $inputs.duration?"),
        (("$first_frame.image", "$first_frame.colour"), "step 'first_frame' has no output 'colour'"),
        (("output: animate", "output: nowhere"), "output: 'nowhere' is not a step id"),
        (
            ("with: {image: $first_frame.image, duration: $inputs.duration}", "with: {duration: $inputs.duration}"),
            "needs image",
        ),
        (
            ("review: {on_edit: prompt_enhancer}", "review: {on_edit: painter}"),
            "review.on_edit: unknown agent 'painter'",
        ),
    ],
)
def test_invalid_sop_names_field(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(MoraError) as caught:
        SopSpec.from_text(GOOD.replace(old, new, 1), "sop/demo.yaml")
    text = str(caught.value)
    assert re.match(r"^sop/demo\.yaml:\d+ ", text), text
    assert message in text


def test_yaml_syntax_error_names_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nsteps: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(MoraError, match=r"broken\.yaml:\d+: not valid YAML"):
        SopSpec.from_file(path)


def test_unknown_task_lists_known_ones():
    with pytest.raises(MoraError, match="unknown task 'dance'.*text_to_video"):
        find_sop("dance")
