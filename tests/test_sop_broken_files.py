"""Broken SOP files, one per mistake a user makes: each must fail with the exact ``<file>:<line> <field>: <message>``.

Every case is a real ``.yaml`` file in a temp dir, loaded with :meth:`SopSpec.from_file`; some also go through
``mora sop validate``. The YAML texts are written out in full so a reader can count the expected line numbers:
line 1 is the line right after the opening quotes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from mora_agents.errors import MoraError
from mora_agents.sop import SopSpec


class Case(NamedTuple):
    id: str
    text: str
    line: int
    field: str | None
    """The field path, or None for file-level problems (``<file>:<line>: <message>``)."""
    message: str


AGENTS = "A1 prompt_enhancer, A2 text_to_image, A3 image_to_image, A4 image_to_video, A5 video_connection"
NOT_AN_IDENTIFIER = "is not an identifier (lower-case letters, digits and _, not starting with a digit)"


CASES = [
    # -- the file as a whole -------------------------------------------------------------------------------
    Case(
        "duplicate_key",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
      prompt: a cat
output: draw
""",
        10,
        "steps[0].with.prompt",
        "duplicate key 'prompt'",
    ),
    Case(
        "top_level_is_a_list",
        """\
- name: demo
- description: draw a picture
- steps: []
""",
        1,
        None,
        "an SOP file must be a mapping with name, description, steps and output",
    ),
    Case(
        "top_level_is_a_string",
        """\
just draw me a cat
""",
        1,
        None,
        "an SOP file must be a mapping with name, description, steps and output",
    ),
    # -- top-level fields ----------------------------------------------------------------------------------
    Case(
        "missing_name",
        """\
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        1,
        "name",
        "is required",
    ),
    Case(
        "missing_steps",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
output: draw
""",
        1,
        "steps",
        "is required",
    ),
    Case(
        "missing_output",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
""",
        1,
        "output",
        "is required",
    ),
    Case(
        "unknown_top_level_field",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
version: 2
""",
        11,
        "version",
        "unknown field 'version'",
    ),
    Case(
        "name_not_an_identifier",
        """\
name: My Demo
description: draw a picture
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
output: draw
""",
        1,
        "name",
        f"'My Demo' {NOT_AN_IDENTIFIER}",
    ),
    # -- steps ---------------------------------------------------------------------------------------------
    Case(
        "unknown_step_field",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    timeout: 30
    with:
      prompt: $inputs.prompt
output: draw
""",
        8,
        "steps[0].timeout",
        "unknown field 'timeout'",
    ),
    Case(
        "unknown_step_field_typo_of_optional_with",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    wiht:
      prompt: $inputs.prompt
output: draw
""",
        8,
        "steps[0].wiht",
        "unknown field 'wiht'; did you mean 'with'?",
    ),
    Case(
        "step_id_not_an_identifier",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: First-Frame
    agent: A2
    with:
      prompt: $inputs.prompt
output: First-Frame
""",
        6,
        "steps[0].id",
        f"'First-Frame' {NOT_AN_IDENTIFIER}",
    ),
    Case(
        "duplicate_step_id",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        10,
        "steps[1].id",
        "'draw' is already the id of an earlier step",
    ),
    Case(
        "unknown_agent",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: painter
    with:
      prompt: $inputs.prompt
output: draw
""",
        7,
        "steps[0].agent",
        f"unknown agent 'painter' (known: {AGENTS})",
    ),
    Case(
        "no_steps",
        """\
name: demo
description: draw a picture
steps: []
output: draw
""",
        3,
        "steps",
        "needs at least 1 item",
    ),
    # -- bindings (with:) ----------------------------------------------------------------------------------
    Case(
        "binding_to_a_later_step",
        """\
name: demo
description: draw a picture, then edit it
inputs:
  prompt: {type: text, required: true}
steps:
  - id: edit
    agent: A3
    with:
      image: $draw.image
      instruction: make it snowy
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: edit
""",
        9,
        "steps[0].with.image",
        "$draw.image refers to step 'draw', which is defined later",
    ),
    Case(
        "binding_to_a_missing_step",
        """\
name: demo
description: animate a picture
inputs:
  duration: {type: seconds, default: 4}
steps:
  - id: animate
    agent: A4
    with:
      image: $nowhere.image
      duration: $inputs.duration
output: animate
""",
        9,
        "steps[0].with.image",
        "$nowhere.image refers to step 'nowhere', which does not exist",
    ),
    Case(
        "binding_to_a_missing_output",
        """\
name: demo
description: enhance a prompt, then draw it
inputs:
  prompt: {type: text, required: true}
steps:
  - id: enhance
    agent: A1
    with:
      prompt: $inputs.prompt
  - id: draw
    agent: A2
    with:
      prompt: $enhance.text
output: draw
""",
        13,
        "steps[1].with.prompt",
        "step 'enhance' has no output 'text' (it has prompt)",
    ),
    Case(
        "undeclared_input",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
  style: {type: text, default: watercolour}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.text
output: draw
""",
        10,
        "steps[0].with.prompt",
        "$inputs.text names no declared input (declared: prompt, style)",
    ),
    Case(
        "video_where_an_image_is_needed",
        """\
name: demo
description: animate a video
inputs:
  video: {type: video, required: true}
steps:
  - id: animate
    agent: A4
    with:
      image: $inputs.video
      duration: 2
output: animate
""",
        9,
        "steps[0].with.image",
        "$inputs.video is a video, but image_to_video's 'image' takes an image",
    ),
    Case(
        "number_where_text_is_needed",
        """\
name: demo
description: draw a picture
steps:
  - id: draw
    agent: A2
    with:
      prompt: 42
output: draw
""",
        7,
        "steps[0].with.prompt",
        "the value 42 is a number, but text_to_image's 'prompt' takes text",
    ),
    Case(
        "yes_where_a_number_is_needed",
        """\
name: demo
description: animate a picture
inputs:
  image: {type: image, required: true}
steps:
  - id: animate
    agent: A4
    with:
      image: $inputs.image
      duration: yes
output: animate
""",
        10,
        "steps[0].with.duration",
        "the value True is true/false, but image_to_video's 'duration' takes a number",
    ),
    Case(
        "fallback_of_two_kinds",
        """\
name: demo
description: animate a picture
inputs:
  image: {type: image}
  video: {type: video}
steps:
  - id: animate
    agent: A4
    with:
      image: $inputs.image | $inputs.video
      duration: 2
output: animate
""",
        10,
        "steps[0].with.image",
        "$inputs.image is an image | $inputs.video is a video, but image_to_video's 'image' takes an image",
    ),
    Case(
        "reference_without_dollar",
        """\
name: demo
description: draw a picture, then animate it
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
  - id: animate
    agent: A4
    with:
      image: draw.image
      duration: 2
output: animate
""",
        13,
        "steps[1].with.image",
        "'draw.image' is plain text; did you mean $draw.image?",
    ),
    Case(
        "reference_without_key",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs
output: draw
""",
        9,
        "steps[0].with.prompt",
        "'$inputs' is not a reference: write $inputs.<name> or $<step>.<output>",
    ),
    Case(
        "text_mixing_references",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: a drawing of $inputs.prompt
output: draw
""",
        9,
        "steps[0].with.prompt",
        "'a drawing of $inputs.prompt' mixes text and references: write either plain text or $references",
    ),
    Case(
        "empty_fallback",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt |
output: draw
""",
        9,
        "steps[0].with.prompt",
        "'' is not a reference: write $inputs.<name> or $<step>.<output>",
    ),
    Case(
        "binding_is_a_list",
        """\
name: demo
description: draw a picture
steps:
  - id: draw
    agent: A2
    with:
      prompt: [a cat, a dog]
output: draw
""",
        7,
        "steps[0].with.prompt",
        "list is not a binding: write a reference or a plain value",
    ),
    Case(
        "accessor_on_text",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt.last_frame
output: draw
""",
        9,
        "steps[0].with.prompt",
        "$inputs.prompt.last_frame: text has no '.last_frame' (it offers none)",
    ),
    Case(
        "accessor_on_image",
        """\
name: demo
description: draw a picture, then animate it
inputs:
  prompt: {type: text, required: true}
steps:
  - id: first_frame
    agent: A2
    with:
      prompt: $inputs.prompt
  - id: animate
    agent: A4
    with:
      image: $first_frame.image.last_frame
      duration: 2
output: animate
""",
        13,
        "steps[1].with.image",
        "$first_frame.image.last_frame: an image has no '.last_frame' (it offers none)",
    ),
    Case(
        "unknown_accessor_on_video",
        """\
name: demo
description: extend a video
inputs:
  video: {type: video, required: true}
steps:
  - id: more
    agent: A4
    with:
      image: $inputs.video.middle_frame
      duration: 2
output: more
""",
        9,
        "steps[0].with.image",
        "$inputs.video.middle_frame: a video has no '.middle_frame' (it offers first_frame, last_frame, duration)",
    ),
    Case(
        "missing_agent_input",
        """\
name: demo
description: animate a picture
inputs:
  duration: {type: seconds, default: 4}
steps:
  - id: animate
    agent: A4
    with:
      duration: $inputs.duration
output: animate
""",
        8,
        "steps[0].with",
        "agent 'image_to_video' needs image",
    ),
    Case(
        "input_the_agent_does_not_take",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
      style: cartoon
output: draw
""",
        10,
        "steps[0].with.style",
        "agent 'text_to_image' takes no input 'style' (it takes prompt)",
    ),
    Case(
        "seed_is_not_bound",
        """\
name: demo
description: draw a picture
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
      seed: 7
output: draw
""",
        8,
        "steps[0].with.seed",
        "agent 'text_to_image' takes no input 'seed' (it takes prompt)",
    ),
    # -- output --------------------------------------------------------------------------------------------
    Case(
        "output_not_a_step_id",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: picture
""",
        10,
        "output",
        "'picture' is not a step id (steps: draw)",
    ),
    Case(
        "join_over_an_image",
        """\
name: demo
description: draw a picture, then animate it
inputs:
  prompt: {type: text, required: true}
steps:
  - id: first_frame
    agent: A2
    with:
      prompt: $inputs.prompt
  - id: animate
    agent: A4
    with:
      image: $first_frame.image
      duration: 2
output:
  join:
    - $animate.video
    - $first_frame.image
""",
        18,
        "output.join[1]",
        "$first_frame.image is an image, but only videos can be joined",
    ),
    Case(
        "join_over_plain_text",
        """\
name: demo
description: extend a video
inputs:
  video: {type: video, required: true}
steps:
  - id: more
    agent: A4
    with:
      image: $inputs.video.last_frame
      duration: 2
output:
  join: [$inputs.video, more]
""",
        12,
        "output.join[1]",
        "'more' is not a reference to a video",
    ),
    # -- conditions (when:) --------------------------------------------------------------------------------
    Case(
        "when_compares_an_image",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
  image: {type: image}
steps:
  - id: draw
    agent: A2
    when: $inputs.image == red
    with:
      prompt: $inputs.prompt
output: draw
""",
        9,
        "steps[0].when",
        "$inputs.image is an image: only text and numbers compare",
    ),
    Case(
        "when_word_not_a_choice",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
  method: {type: choice, choices: [keep, edit], default: keep}
steps:
  - id: draw
    agent: A2
    when: $inputs.method == transfer
    with:
      prompt: $inputs.prompt
output: draw
""",
        9,
        "steps[0].when",
        "'transfer' is not a choice of $inputs.method (keep, edit)",
    ),
    Case(
        "when_without_dollar",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
  image: {type: image}
steps:
  - id: draw
    agent: A2
    when: not inputs.image
    with:
      prompt: $inputs.prompt
output: draw
""",
        9,
        "steps[0].when",
        "'inputs.image' is not a reference: write $inputs.<name> or $<step>.<output>",
    ),
    # -- inputs --------------------------------------------------------------------------------------------
    Case(
        "choice_without_choices",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
  method:
    type: choice
    default: keep
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        5,
        "inputs.method.choices",
        "a choice input needs a list of choices",
    ),
    Case(
        "image_input_with_a_default",
        """\
name: demo
description: animate a picture
inputs:
  image:
    type: image
    default: cat.png
steps:
  - id: animate
    agent: A4
    with:
      image: $inputs.image
      duration: 2
output: animate
""",
        6,
        "inputs.image.default",
        "image inputs take no default: they are files the user gives",
    ),
    Case(
        "unknown_input_type",
        """\
name: demo
description: draw a picture
inputs:
  prompt:
    type: string
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        5,
        "inputs.prompt.type",
        "must be 'text', 'image', 'video', 'seconds', 'int' or 'choice'",
    ),
    # -- review --------------------------------------------------------------------------------------------
    Case(
        "on_edit_agent_cannot_edit",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
    review:
      by: human
      on_edit: image_to_video
output: draw
""",
        12,
        "steps[0].review.on_edit",
        "agent 'image_to_video' cannot carry out an edit instruction (use A1 or A3)",
    ),
    Case(
        "max_iterations_zero",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
    review:
      by: human
      max_iterations: 0
output: draw
""",
        12,
        "steps[0].review.max_iterations",
        "must be greater than or equal to 1",
    ),
]

YAML_SYNTAX_CASES = [
    # (id, text, line): the message is "<file>:<line>: not valid YAML (<what PyYAML says>)".
    (
        "colon_in_a_plain_value",
        """\
name: demo
description: draw: a picture
steps: []
output: draw
""",
        2,
    ),
    (
        "tab_indentation",
        "name: demo\ndescription: draw a picture\nsteps:\n\t- id: draw\noutput: draw\n",
        4,
    ),
    (
        "two_documents",
        """\
name: demo
description: draw a picture
---
name: other
""",
        3,
    ),
]


def _expected(path: Path, case: Case) -> str:
    where = f"{path}:{case.line} {case.field}" if case.field else f"{path}:{case.line}"
    return f"{where}: {case.message}"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(MoraError) as caught:
        SopSpec.from_file(path)
    return str(caught.value)


def _cli(*files: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "mora_agents.cli", "sop", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_table_is_big_and_ids_are_unique():
    ids = [case.id for case in CASES]
    assert len(ids) >= 18
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_broken_file_names_file_line_and_field(tmp_path: Path, case: Case):
    path = _write(tmp_path, case.id, case.text)
    assert case.line <= len(case.text.splitlines()), "the expected line is past the end of the file"
    assert _load_error(path) == _expected(path, case)


@pytest.mark.parametrize(("name", "text", "line"), YAML_SYNTAX_CASES, ids=[c[0] for c in YAML_SYNTAX_CASES])
def test_yaml_syntax_error_names_line(tmp_path: Path, name: str, text: str, line: int):
    path = _write(tmp_path, name, text)
    message = _load_error(path)
    assert message.startswith(f"{path}:{line}: not valid YAML ("), message
    assert message.endswith(")") and "\n" not in message, message


def test_unreadable_file(tmp_path: Path):
    missing = tmp_path / "missing.yaml"
    assert _load_error(missing).startswith(f"cannot read SOP file {missing}: ")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: \xff\xfe\x00demo\n")
    assert _load_error(binary) == f"{binary}: not a text file (SOP files are UTF-8 YAML)"


def test_builtin_and_example_files_are_valid():
    # The table's texts are all derived from the shapes of these files: make sure those still load.
    root = Path(__file__).resolve().parent.parent
    files = sorted((root / "sop").glob("*.yaml")) + sorted((root / "examples" / "sop").glob("*.yaml"))
    assert len(files) >= 7
    for path in files:
        SopSpec.from_file(path)


CLI_CASES = ["duplicate_key", "binding_to_a_later_step", "join_over_an_image"]


@pytest.mark.parametrize("case_id", CLI_CASES)
def test_cli_validate_prints_the_same_message(tmp_path: Path, case_id: str):
    case = next(case for case in CASES if case.id == case_id)
    path = _write(tmp_path, case.id, case.text)
    result = _cli(path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.strip() == f"invalid {_expected(path, case)}"


def test_cli_validate_many_files_one_line_each(tmp_path: Path):
    # One run over every case (and a YAML syntax error and a good file): one line per file, in order, exit 2.
    paths = [_write(tmp_path, case.id, case.text) for case in CASES]
    name, text, line = YAML_SYNTAX_CASES[0]
    broken_yaml = _write(tmp_path, name, text)
    root = Path(__file__).resolve().parent.parent
    good = root / "sop" / "text_to_video.yaml"
    result = _cli(*paths, broken_yaml, good)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    expected = [f"invalid {_expected(path, case)}" for path, case in zip(paths, CASES, strict=True)]
    assert lines[: len(CASES)] == expected
    assert lines[len(CASES)].startswith(f"invalid {broken_yaml}:{line}: not valid YAML (")
    assert len(lines) == len(CASES) + 1
    assert result.stdout.strip() == f"ok      {good} (text_to_video: 3 steps)"


# -- regressions -------------------------------------------------------------------------------------------
# Mistakes that once gave a misleading message, a wrong line or a traceback. Each assertion states what a user
# needs (the file, the offending key's line, the field path) and that the old, misleading phrase is gone.


class FixedBug(NamedTuple):
    id: str
    text: str
    prefix: str
    """What the message must start with after ``<path>:``: the right line and field path."""
    must_not_contain: str
    """A phrase the current, misleading message contains."""


FIXED_BUGS = [
    FixedBug(
        # Typo in a required step field: reported as "steps[0].agent: is required" at the step's first line.
        "typo_agnet",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, required: true}
steps:
  - id: draw
    agnet: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        "7 steps[0].agnet: unknown field 'agnet'",
        "is required",
    ),
    FixedBug(
        # Typo in a required top-level field: reported as "name: is required" at line 1.
        "typo_nmae",
        """\
nmae: demo
description: draw a picture
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
output: draw
""",
        "1 nmae: unknown field 'nmae'",
        "is required",
    ),
    FixedBug(
        # The field path comes out as "inputs.inputs.Prompt" and the line as 3 (the "inputs:" key).
        "input_name_not_an_identifier",
        """\
name: demo
description: draw a picture
inputs:
  Prompt: {type: text, required: true}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.Prompt
output: draw
""",
        "4 inputs.Prompt: ",
        "inputs.inputs",
    ),
    FixedBug(
        # The message calls the input 'default': "input 'default' must be between 0 and 600 seconds, got 0.0".
        "default_out_of_range",
        """\
name: demo
description: animate a picture
inputs:
  image: {type: image, required: true}
  duration: {type: seconds, default: 0}
steps:
  - id: animate
    agent: A4
    with:
      image: $inputs.image
      duration: $inputs.duration
output: animate
""",
        "5 inputs.duration.default: ",
        "input 'default'",
    ),
    FixedBug(
        # A union's member name leaks into the path: "inputs.prompt.default.str: Input should be a valid string".
        "default_is_a_list",
        """\
name: demo
description: draw a picture
inputs:
  prompt: {type: text, default: [a cat]}
steps:
  - id: draw
    agent: A2
    with:
      prompt: $inputs.prompt
output: draw
""",
        "4 inputs.prompt.default: ",
        ".default.str",
    ),
    FixedBug(
        # A step that uses its own output is told the step "is defined later".
        "step_refers_to_itself",
        """\
name: demo
description: enhance a prompt
steps:
  - id: enhance
    agent: A1
    with:
      prompt: $enhance.prompt
output: enhance
""",
        "7 steps[0].with.prompt: $enhance.prompt refers to step 'enhance', ",
        "defined later",
    ),
    FixedBug(
        # The reserved step id 'inputs' is reported as "'inputs' is used twice".
        "step_id_inputs_is_reserved",
        """\
name: demo
description: draw a picture
steps:
  - id: inputs
    agent: A2
    with:
      prompt: a cat
output: inputs
""",
        "4 steps[0].id: ",
        "used twice",
    ),
    FixedBug(
        # YAML reads yes/no as booleans; the user only sees "Input should be a valid string" (no hint to quote).
        "choices_yes_no",
        """\
name: demo
description: draw a picture
inputs:
  confirm: {type: choice, choices: [yes, no], default: 'yes'}
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
output: draw
""",
        "4 inputs.confirm.choices[0]: ",
        "Input should be a valid string",
    ),
    FixedBug(
        # A key YAML reads as a boolean comes out as "inputs[1].[key]: Input should be a valid string" at line 3.
        "input_named_yes",
        """\
name: demo
description: draw a picture
inputs:
  yes: {type: text}
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
output: draw
""",
        "4 inputs",
        "[key]",
    ),
    FixedBug(
        # A comparison without a word is reported as "'$inputs.method ==' is not a reference".
        "when_comparison_without_word",
        """\
name: demo
description: draw a picture
inputs:
  method: {type: choice, choices: [keep, edit], default: keep}
steps:
  - id: draw
    agent: A2
    when: $inputs.method ==
    with:
      prompt: a cat
output: draw
""",
        "8 steps[0].when: ",
        "is not a reference",
    ),
    FixedBug(
        # A choice word with a space is reported as "'$inputs.time == night time' is not a reference".
        "when_word_with_a_space",
        """\
name: demo
description: draw a picture
inputs:
  time: {type: choice, choices: [day, night time], default: day}
steps:
  - id: draw
    agent: A2
    when: $inputs.time == night time
    with:
      prompt: a cat
output: draw
""",
        "8 steps[0].when: ",
        "is not a reference",
    ),
]


def test_unclosed_quote_names_the_line_it_opened(tmp_path: Path):
    # "found unexpected end of stream" at line 6; PyYAML's context_mark knows the quote opened on line 2.
    path = _write(
        tmp_path, "unclosed_quote", 'name: demo\ndescription: "draw a picture\nsteps:\n  - id: a\noutput: a\n'
    )
    message = _load_error(path)
    assert message.startswith(f"{path}:2: ") or "line 2" in message, message


@pytest.mark.parametrize("bug", FIXED_BUGS, ids=[bug.id for bug in FIXED_BUGS])
def test_formerly_misleading_message(tmp_path: Path, bug: FixedBug):
    path = _write(tmp_path, bug.id, bug.text)
    message = _load_error(path)
    assert bug.must_not_contain not in message, message
    assert message.startswith(f"{path}:{bug.prefix}"), message


CRASHES = [
    # Files on which the loader raises something other than MoraError (a traceback for the user).
    pytest.param("name: demo\n? [a, b]\n: c\n", id="non_scalar_key_TypeError"),
    pytest.param(
        """\
name: demo
description: count
inputs:
  n: {type: int, default: .inf}
steps:
  - id: draw
    agent: A2
    with:
      prompt: a cat
output: draw
""",
        id="int_default_inf_OverflowError",
    ),
    pytest.param("name: demo\nexamples: &loop [*loop]\n", id="recursive_alias_RecursionError"),
    pytest.param("name: " + "[" * 1100 + "]" * 1100 + "\n", id="deep_nesting_RecursionError"),
]


@pytest.mark.parametrize("text", CRASHES)
def test_former_crash_is_a_mora_error(tmp_path: Path, text: str):
    path = _write(tmp_path, "crash", text)
    with pytest.raises(MoraError):
        SopSpec.from_file(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        # "{join: [video references]}" is printed as "{join: }".
        ("name: demo\ndescription: d\nsteps:\n  - {id: s, agent: A2, with: {prompt: x}}\noutput: {join: []}\n", "["),
        # A value containing "[/b]" makes rich raise MarkupError: a traceback and exit 1.
        ("name: demo\ndescription: d\nsteps:\n  - {id: s, agent: A2, with: {prompt: '[/b] $x'}}\noutput: s\n", "[/b]"),
    ],
    ids=["brackets_eaten", "closing_tag_traceback"],
)
def test_cli_prints_messages_verbatim(tmp_path: Path, text: str, needle: str):
    path = _write(tmp_path, "markup", text)
    message = _load_error(path)
    assert needle in message
    result = _cli(path)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 2
    assert result.stderr.strip() == f"invalid {message}"
