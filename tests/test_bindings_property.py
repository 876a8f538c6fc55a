"""Property tests of the binding language and the SOP loader: for any input they return a value or raise the
one documented error (``BindingError`` for the parsers, ``MoraError`` for the loader), never anything else."""

from __future__ import annotations

import string

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mora_agents.errors import MoraError
from mora_agents.sop import SopSpec
from mora_agents.sop._bindings import ACCESSORS, Binding, BindingError, Condition, Reference

# Budgets chosen so the whole file runs in about 15 s; raise them locally to hunt for bugs.
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LOADER = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -----------------------------------------------------------------------------------------------

# Built from characters rather than st.from_regex, which is several times slower to draw from.
names = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_lowercase + "_"),
    st.text(alphabet=string.ascii_lowercase + string.digits + "_", max_size=8),
)
accessor_names = st.sampled_from(sorted({name for table in ACCESSORS.values() for name in table}))
valid_references = st.builds(
    lambda source, key, accessors: "$" + ".".join([source, key, *accessors]),
    st.one_of(st.just("inputs"), names),
    names,
    st.lists(st.one_of(accessor_names, names), max_size=3),
)

# Pieces of the grammar, glued together in any order: mostly near-misses of valid bindings and conditions.
grammar_pieces = st.one_of(
    st.sampled_from(["$", ".", "|", " | ", "==", "!=", " == ", " or ", "not ", " ", "  ", "\t", "\n", "-", "'"]),
    st.sampled_from(["inputs", "prompt", "image", "video", "last_frame", "first_frame", "duration", "transfer"]),
    names,
    valid_references,
    st.text(alphabet=string.ascii_letters + string.digits + "_.$|=! ", max_size=4),
    st.text(max_size=2),
)
grammar_text = st.lists(grammar_pieces, max_size=8).map("".join)
any_text = st.one_of(st.text(), grammar_text)

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.dates(),  # YAML reads 2024-01-31 as a date
    st.datetimes(),
)
non_string_values = st.one_of(
    yaml_scalars,
    st.recursive(
        st.one_of(yaml_scalars, st.text(max_size=5)),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(st.text(max_size=5), children, max_size=3),
        ),
        max_leaves=6,
    ).filter(lambda value: not isinstance(value, str)),
)


def _parses_or_binding_error(parse, value):
    try:
        return parse(value)
    except BindingError:
        return None


# -- the parsers ------------------------------------------------------------------------------------------------


@FAST
@given(any_text)
@example("")
@example("$")
@example("$inputs.")
@example("$inputs.prompt.")
@example("$inputs.prompt\n")
@example("$inputs.prompt |")
@example("| $inputs.prompt")
@example("$a.b == ")
@example("== x")
@example("not ")
@example("not not $a.b")
@example(" or ")
@example("$a.b or")
@example("$a.b == x == y")
@example("$a.b != x or not $c.d or $e.f == g")
def test_parsers_return_a_value_or_raise_binding_error(text):
    reference = _parses_or_binding_error(Reference.parse, text)
    if reference is not None:
        assert isinstance(reference, Reference)
        assert str(reference) == text.strip()
    binding = _parses_or_binding_error(Binding.parse, text)
    if binding is not None:
        assert isinstance(binding, Binding)
        # A string is either a literal (kept as it is) or references, never both.
        assert binding.is_literal == (binding.literal is not None)
        if binding.is_literal:
            assert binding.literal == text and "$" not in text
        else:
            assert text.strip().startswith("$")
            assert len(binding.references) == text.count("|") + 1
    condition = _parses_or_binding_error(Condition.parse, text)
    if condition is not None:
        assert isinstance(condition, Condition)
        assert condition.clauses
        for clause in condition.clauses:
            assert isinstance(clause.reference, Reference)
            assert (clause.operator is None) == (clause.word is None)
            assert clause.operator in (None, "==", "!=")
            assert not (clause.negated and clause.operator)


@FAST
@given(non_string_values)
def test_binding_of_any_yaml_value_is_a_literal_or_binding_error(value):
    try:
        binding = Binding.parse(value)
    except BindingError:
        assert not isinstance(value, bool | int | float)
        return
    assert binding.is_literal
    assert isinstance(value, bool | int | float)
    assert binding.literal is value


@FAST
@given(non_string_values)
def test_reference_and_condition_of_non_text_raise_binding_error(value):
    for parse in (Reference.parse, Condition.parse):
        try:
            parse(value)
        except BindingError:
            continue
        raise AssertionError(f"{parse.__qualname__}({value!r}) did not raise BindingError")


@FAST
@given(valid_references)
def test_reference_round_trip(text):
    reference = Reference.parse(text)
    assert str(reference) == text
    assert Reference.parse(str(reference)) == reference
    assert Reference.parse(f"  {text}\t") == reference


@FAST
@given(st.lists(valid_references, min_size=1, max_size=4), st.sampled_from(["|", " | ", "  |\t"]))
def test_fallback_round_trip(references, separator):
    binding = Binding.parse(separator.join(references))
    assert [str(ref) for ref in binding.references] == references
    assert Binding.parse(str(binding)) == binding


def test_a_join_is_described_in_words_on_the_progress_line():
    # The runner's "output: joining ..." line; it showed the raw $references to people in mora chat.
    assert Binding.parse("$inputs.video").describe() == "the input video"
    assert Binding.parse("$continuation.video").describe() == "continuation's video"
    assert Binding.parse("$fitted.image | $inputs.image.last_frame").describe() == (
        "fitted's image or the input image (last frame)"
    )


@FAST
@given(
    st.lists(
        st.tuples(
            valid_references,
            st.sampled_from([None, "not", "==", "!="]),
            # Not the word "or": "$a.b == or or $c.d" splits at the first " or " (a known ambiguity).
            st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=8).filter(
                lambda word: word != "or"
            ),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_condition_round_trip(clauses):
    parts = []
    for reference, operator, word in clauses:
        if operator is None:
            parts.append(reference)
        elif operator == "not":
            parts.append(f"not {reference}")
        else:
            parts.append(f"{reference} {operator} {word}")
    condition = Condition.parse(" or ".join(parts))
    assert len(condition.clauses) == len(clauses)
    for clause, (reference, operator, word) in zip(condition.clauses, clauses, strict=True):
        assert str(clause.reference) == reference
        assert clause.negated == (operator == "not")
        assert clause.operator == (operator if operator in ("==", "!=") else None)
        assert clause.word == (word if operator in ("==", "!=") else None)


# -- the loader -------------------------------------------------------------------------------------------------

VALID = """\
name: demo
description: draw a picture, animate it, join it to the given video
examples:
  - a cat in the snow
inputs:
  prompt: {type: text, required: true, description: what to show}
  video: {type: video}
  method: {type: choice, choices: [keep, edit], default: keep}
  duration: {type: seconds, default: 4}
steps:
  - id: enhance
    agent: A1
    with:
      prompt: $inputs.prompt
      suffix: in watercolour
  - id: first_frame
    agent: text_to_image
    when: not $inputs.video
    with:
      prompt: $enhance.prompt
    review: {by: human, max_iterations: 3, on_edit: prompt_enhancer}
  - id: edited
    agent: A3
    when: $inputs.method == edit or $inputs.video
    with:
      image: $inputs.video.last_frame | $first_frame.image
      instruction: $inputs.prompt
    review:
      by: human
      on_edit: image_to_image
  - id: animate
    agent: A4
    with:
      image: $edited.image | $first_frame.image
      duration: $inputs.duration | $inputs.video.duration
      skip_first_frame: false
output:
  join: [$inputs.video, $animate.video]
"""
LINES = VALID.splitlines(keepends=True)

# Tokens that replace a token of VALID (".inf" with "int" makes {type: int, default: .inf}, a former crash).
TOKENS = [
    ".inf",
    "",
    " ",
    "-",
    ":",
    "- ",
    "$",
    "|",
    "'",
    '"',
    "#",
    "[",
    "]",
    "{",
    "}",
    "[a]",
    "{a: b}",
    "? ",
    "&a",
    "*a",
    "!!str",
    "!!int",
    "~",
    "null",
    "yes",
    "no",
    "0",
    "-1",
    "11",
    "1e3",
    ".nan",
    "\t",
    "inputs",
    "$inputs",
    "$inputs.prompt",
    "$inputs.video",
    "$first_frame.image",
    "$animate.video.first_frame",
    "A6",
    "image_to_video",
    "with",
    "when",
    "join",
    "choice",
    "image",
    "video",
    "seconds",
    "int",
    "text",
]


def test_valid_text_loads():
    spec = SopSpec.from_text(VALID, "x.yaml")
    assert [step.id for step in spec.steps] == ["enhance", "first_frame", "edited", "animate"]


def _loads_or_mora_error(text: str) -> None:
    try:
        SopSpec.from_text(text, "x.yaml")
    except MoraError as error:
        message = str(error)
        assert message.startswith("x.yaml"), message
    # Anything else propagates and fails the test with the input hypothesis found.


@LOADER
@given(st.text())
@example("")
@example("---")
@example("- a\n- b")
@example("name: demo\nname: demo")
@example("? a\n: b")
@example("!!python/object/apply:os.system ['true']")
@example("a: !!binary aGVsbG8=")
@example("a: &x 1\nb: *y")
def test_loader_on_any_text(text):
    _loads_or_mora_error(text)


SOP_KEYS = ["name", "description", "examples", "inputs", "steps", "output", "id", "agent", "with", "review", "when"]
documents = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10), grammar_text),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(SOP_KEYS)), children, max_size=4),
    ),
    max_leaves=20,
)


@LOADER
@given(documents)
def test_loader_on_any_yaml_document(data):
    _loads_or_mora_error(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


# SOP-shaped documents whose names come from small pools, so that references often resolve and the graph
# checks (order, kinds, accessors, conditions, review, output) run, not only the field checks.
INPUT_NAMES = ["prompt", "video", "image", "method", "duration"]
STEP_IDS = ["a", "b", "c", "inputs"]
pool_references = st.builds(
    lambda source, key, accessors: "$" + ".".join([source, key, *accessors]),
    st.sampled_from(["inputs", *STEP_IDS[:3]]),
    st.sampled_from([*INPUT_NAMES, "image", "video", "prompt", "original", "x"]),
    st.lists(st.sampled_from(["first_frame", "last_frame", "duration", "x"]), max_size=2),
)
binding_values = st.one_of(
    pool_references,
    st.lists(pool_references, min_size=2, max_size=3).map(" | ".join),
    grammar_text,
    st.text(max_size=6),
    st.integers(),
    st.floats(allow_infinity=False),
    st.booleans(),
    st.none(),
)
conditions = st.one_of(
    pool_references,
    pool_references.map("not {}".format),
    st.tuples(pool_references, st.sampled_from(["==", "!="]), st.sampled_from(["keep", "edit", "4", "x"])).map(
        " ".join
    ),
    grammar_text,
)
input_specs = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "video", "seconds", "int", "choice", "float"])},
    optional={
        "required": st.booleans(),
        # Infinity included: {type: int, default: .inf} once crashed with OverflowError.
        "default": st.one_of(st.integers(), st.floats(), st.text(max_size=4), st.none()),
        "choices": st.lists(st.sampled_from(["keep", "edit", "x", ""]), max_size=3),
        "description": st.text(max_size=6),
    },
)
step_specs = st.fixed_dictionaries(
    {
        "id": st.one_of(st.sampled_from(STEP_IDS), names),
        "agent": st.sampled_from(["A1", "A2", "A3", "A4", "A5", "prompt_enhancer", "image_to_video", "x"]),
    },
    optional={
        "with": st.dictionaries(
            st.sampled_from(["prompt", "image", "duration", "instruction", "first", "last", "suffix", "seed", "x"]),
            binding_values,
            min_size=1,
            max_size=5,
        ),
        "when": conditions,
        "review": st.fixed_dictionaries(
            {},
            optional={
                "by": st.sampled_from(["human", "human", "human", "robot"]),
                "max_iterations": st.integers(-1, 11),
                "on_edit": st.sampled_from(["A1", "A3", "A4", "image_to_image", "x"]),
            },
        ),
    },
)
sop_like = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("demo"), names),
        "description": st.text(min_size=1, max_size=10),
        "steps": st.lists(step_specs, min_size=1, max_size=4),
        "output": st.one_of(
            st.sampled_from(STEP_IDS),
            st.fixed_dictionaries({"join": st.lists(st.one_of(pool_references, grammar_text), max_size=3)}),
        ),
    },
    optional={
        "examples": st.lists(st.text(max_size=6), max_size=2),
        "inputs": st.dictionaries(st.sampled_from(INPUT_NAMES), input_specs, max_size=4),
    },
)


@LOADER
@given(sop_like)
def test_loader_on_sop_shaped_documents(data):
    _loads_or_mora_error(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@st.composite
def mutated_valid_text(draw, tokens=tuple(TOKENS)):
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["delete", "swap", "duplicate", "replace", "indent"]))
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        if action == "delete":
            del lines[i]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "  ", "    ", "\t"])) + lines[i].lstrip(" ")
        else:
            tokens = lines[i].replace(":", " : ").replace(",", " , ").split(" ")
            k = draw(st.integers(0, len(tokens) - 1))
            tokens[k] = draw(st.one_of(st.sampled_from(tokens), names))
            lines[i] = " ".join(tokens).replace(" : ", ": ").replace(" , ", ", ")
            if not lines[i].endswith("\n"):
                lines[i] += "\n"
    return "".join(lines)


@LOADER
@given(mutated_valid_text())
def test_loader_on_mutated_valid_text(text):
    _loads_or_mora_error(text)
