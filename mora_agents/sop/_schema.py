"""The SOP schema: one pydantic model for a declarative task file (``sop/*.yaml``).

An SOP names its typed inputs, its steps (each one agent, with ``with:`` bindings that reference inputs
and earlier steps' outputs, an optional ``review:`` and an optional ``when:``) and its ``output``: one
step's artifact, or several videos joined into one. Bindings use the small language of
:mod:`mora_agents.sop._bindings`: parsed, type-checked, never evaluated.

Every problem is reported as ``<file>:<line> <field>: <what is wrong>``
(:mod:`mora_agents.sop._error_location`), e.g.
``sop/my_task.yaml:14 steps[2].with.image: $edit.image refers to step 'edit', which is defined later``.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mora_agents.agents import AGENT_ROLES, ROLE_ALIASES
from mora_agents.errors import MoraError
from mora_agents.media_guard import check_media_file
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.sop._bindings import ACCESSORS, NAME, Binding, BindingError, Condition, Kind, Reference, literal_kind
from mora_agents.sop._error_location import (
    SopFieldError,
    check_keys,
    describe_error,
    first_error,
    located,
    yaml_problem,
)

InputType = Literal["text", "image", "video", "seconds", "int", "choice"]
INPUT_KINDS: dict[str, Kind] = {
    "text": "text",
    "choice": "text",
    "seconds": "number",
    "int": "number",
    "image": "image",
    "video": "video",
}
_ARTICLE = {"image": "an image", "video": "a video", "text": "text", "number": "a number", "bool": "true/false"}


def role_of(agent: str) -> str:
    """The role name for an agent name or paper id."""
    return ROLE_ALIASES.get(agent, agent)


class InputSpec(BaseModel):
    """One input of the task, as the user (or the director) supplies it."""

    model_config = ConfigDict(extra="forbid")

    type: InputType
    required: bool = False
    default: str | float | int | None = None
    choices: list[str] | None = None
    """The allowed values of a ``choice`` input."""
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> InputSpec:
        if self.type == "choice" and not self.choices:
            raise SopFieldError(("choices",), "a choice input needs a list of choices")
        if self.type != "choice" and self.choices:
            raise SopFieldError(("choices",), f"only choice inputs take choices, this one is {self.type}")
        if self.type in ("image", "video") and self.default is not None:
            raise SopFieldError(("default",), f"{self.type} inputs take no default: they are files the user gives")
        if self.default is not None:
            try:
                self.coerce(None, self.default)
            except ValueError as error:
                raise SopFieldError(("default",), str(error)) from None
        return self

    @property
    def kind(self) -> Kind:
        return INPUT_KINDS[self.type]

    def coerce(self, name: str | None, value: Any) -> str | float | int:
        """``value`` converted to this input's type, or a ``ValueError`` naming the input (when ``name`` is given)."""
        subject = f"input '{name}'" if name else "it"
        if self.type in ("image", "video"):
            path = Path(str(value)).expanduser()
            try:
                # The guard's cheap part (path, size, type by content): a folder or a PNG given as a video is named
                # here, before anything is set up; decoding and the header caps come in studio.check_media.
                check_media_file(path, self.type)
            except MoraError as error:
                raise ValueError(f"{subject}: {error}") from None
            return str(path)
        if self.type == "choice":
            if str(value) not in self.choices:
                raise ValueError(f"{subject} must be one of {', '.join(self.choices)}, got {value!r}")
            return str(value)
        converter = {"text": str, "seconds": float, "int": int}[self.type]
        try:
            converted = converter(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"{subject} must be {self.type}, got {value!r}") from None
        if self.type == "text" and not converted.strip():
            raise ValueError(f"{subject} must not be empty")
        if self.type == "seconds" and not 0 < converted <= 600:
            raise ValueError(f"{subject} must be between 0 and 600 seconds, got {converted}")
        return converted


class ReviewSpec(BaseModel):
    """Who reviews a step's result and how often it may be redone (the paper's rule: 3)."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["human"] = "human"
    max_iterations: int = Field(default=3, ge=1, le=10)
    on_edit: str | None = None
    """The agent that carries out ``edit <instruction>``: A1 revises the step's prompt (the step runs
    again), A3 edits the result image directly. Without it, edits are refused."""


class StepSpec(BaseModel):
    """One stage: an agent, its bindings, an optional review and an optional condition."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=f"^{NAME}$")
    agent: str
    bindings: dict[str, Any] = Field(default_factory=dict, alias="with")
    review: ReviewSpec | None = None
    when: str | None = None
    """Run the step only when this condition holds, e.g. ``$inputs.image`` or ``$inputs.method == transfer``."""

    @property
    def role(self) -> str:
        return role_of(self.agent)

    def parsed_bindings(self) -> dict[str, Binding]:
        return {name: Binding.parse(value) for name, value in self.bindings.items()}

    def condition(self) -> Condition | None:
        return Condition.parse(self.when) if self.when is not None else None


class JoinSpec(BaseModel):
    """An output made of several videos played one after another."""

    model_config = ConfigDict(extra="forbid")

    join: list[str] = Field(min_length=1)
    """Video bindings, e.g. ``[$inputs.video, $transition.video, $inputs.video2]``."""


SUMMARY_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
"""A ``{input}`` placeholder of a ``summary`` (plain substitution: no attribute access, no format spec)."""


class SopSpec(BaseModel):
    """A task as a declarative file. Load with :meth:`from_file`; problems name file, line and field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{NAME}$")
    description: str = Field(min_length=1)
    examples: list[str] = Field(default_factory=list)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(min_length=1)
    output: str | JoinSpec
    """A step id (that step's artifact is the result) or ``{join: [...]}`` (videos joined in order)."""
    summary: str | None = None
    """What the director says it understood, with ``{input}`` placeholders and ``[...]`` parts dropped when an
    input inside has no value, e.g. ``extend {video}[ by {duration}]``. Default: the task name and its inputs."""

    @model_validator(mode="before")
    @classmethod
    def _no_route(cls, data: Any) -> Any:
        if isinstance(data, dict) and "route" in data:
            raise SopFieldError(
                ("route",),
                "route cues are no longer read: the director learns a task from its examples and inputs, so move "
                "what the cues said into examples",
            )
        return data

    @field_validator("inputs")
    @classmethod
    def _input_names(cls, inputs: dict[str, InputSpec]) -> dict[str, InputSpec]:
        for name in inputs:
            if not _is_name(name):
                raise SopFieldError((name,), f"'{name}' is not an identifier (a-z, 0-9, _)")
        return inputs

    @model_validator(mode="after")
    def _check_summary(self) -> SopSpec:
        for name in SUMMARY_FIELD.findall(self.summary or ""):
            if name not in self.inputs:
                have = ", ".join(self.inputs) or "none"
                raise SopFieldError(("summary",), f"{{{name}}} is not an input of this task (its inputs: {have})")
        return self

    @model_validator(mode="after")
    def _check_graph(self) -> SopSpec:
        earlier: dict[str, StepSpec] = {}
        for index, step in enumerate(self.steps):
            here = ("steps", index)
            if step.id == "inputs":
                raise SopFieldError((*here, "id"), "'inputs' is reserved for $inputs: choose another step id")
            if step.id in earlier:
                raise SopFieldError((*here, "id"), f"'{step.id}' is already the id of an earlier step")
            _check_role(step.agent, (*here, "agent"))
            if step.when is not None:
                self._check_condition(step.when, (*here, "when"), earlier)
            request_type = AGENT_ROLES[step.role].request_type
            for name, value in step.bindings.items():
                self._check_binding(step, name, value, (*here, "with", name), earlier)
            missing = [
                name
                for name, info in request_type.model_fields.items()
                if info.is_required() and name != "seed" and name not in step.bindings
            ]
            if missing:
                raise SopFieldError((*here, "with"), f"agent '{step.role}' needs {', '.join(missing)}")
            if step.review and step.review.on_edit:
                self._check_edit_agent(step, (*here, "review", "on_edit"))
            earlier[step.id] = step
        self._check_output(earlier)
        return self

    # -- checks ---------------------------------------------------------------------------------

    def _check_binding(self, step: StepSpec, name: str, value: Any, loc: tuple, earlier: dict) -> None:
        fields = AGENT_ROLES[step.role].request_type.model_fields
        if name not in fields or name == "seed":
            takes = ", ".join(n for n in fields if n != "seed")
            raise SopFieldError(loc, f"agent '{step.role}' takes no input '{name}' (it takes {takes})")
        try:
            binding = Binding.parse(value)
        except BindingError as error:
            raise SopFieldError(loc, str(error)) from None
        wanted = field_kind(fields[name].annotation)
        if binding.is_literal and isinstance(binding.literal, str) and _looks_like_reference(binding.literal):
            head = binding.literal.strip().split(".")[0]
            if head == "inputs" or head in earlier:
                raise SopFieldError(loc, f"'{binding.literal}' is plain text; did you mean ${binding.literal.strip()}?")
        if binding.is_literal:
            kinds = {literal_kind(binding.literal)}
            what = f"the value {binding.literal!r} is {_ARTICLE[next(iter(kinds))]}"
        else:
            kinds = {self._reference_kind(ref, loc, earlier) for ref in binding.references}
            what = " | ".join(
                f"{ref} is {_ARTICLE[self._reference_kind(ref, loc, earlier)]}" for ref in binding.references
            )
        if kinds != {wanted}:
            hint = ""
            if binding.is_literal and isinstance(binding.literal, str) and _looks_like_reference(binding.literal):
                hint = f"; did you mean ${binding.literal.strip()}?"
            raise SopFieldError(loc, f"{what}, but {step.role}'s '{name}' takes {_ARTICLE[wanted]}{hint}")

    def _reference_kind(self, ref: Reference, loc: tuple, earlier: dict[str, StepSpec]) -> Kind:
        if ref.source == "inputs":
            if ref.key not in self.inputs:
                raise SopFieldError(
                    loc, f"{ref} names no declared input (declared: {', '.join(self.inputs) or 'none'})"
                )
            kind = self.inputs[ref.key].kind
        elif ref.source not in earlier:
            later = [step.id for step in self.steps if step.id not in earlier]
            if later and later[0] == ref.source and loc[:1] == ("steps",):
                why = "its own step: a step can only use earlier steps' outputs"
            elif ref.source in later:
                why = "which is defined later"
            else:
                why = "which does not exist"
            raise SopFieldError(loc, f"{ref} refers to step '{ref.source}', {why}")
        else:
            outputs = output_kinds(AGENT_ROLES[earlier[ref.source].role].output_type)
            if ref.key not in outputs:
                raise SopFieldError(
                    loc, f"step '{ref.source}' has no output '{ref.key}' (it has {', '.join(sorted(outputs))})"
                )
            kind = outputs[ref.key]
        for accessor in ref.accessors:
            offered = ACCESSORS.get(kind, {})
            if accessor not in offered:
                has = f"it offers {', '.join(offered)}" if offered else "it offers none"
                raise SopFieldError(loc, f"{ref}: {_ARTICLE[kind]} has no '.{accessor}' ({has})")
            kind = offered[accessor]
        return kind

    def _check_condition(self, text: str, loc: tuple, earlier: dict[str, StepSpec]) -> None:
        try:
            condition = Condition.parse(text)
        except BindingError as error:
            raise SopFieldError(loc, str(error)) from None
        for clause in condition.clauses:
            kind = self._reference_kind(clause.reference, loc, earlier)
            if clause.operator and kind not in ("text", "number"):
                raise SopFieldError(loc, f"{clause.reference} is {_ARTICLE[kind]}: only text and numbers compare")
            if clause.operator and kind == "number" and not _is_number(clause.word):
                raise SopFieldError(loc, f"{clause.reference} is a number, but '{clause.word}' is not")
            spec = self.inputs.get(clause.reference.key) if clause.reference.source == "inputs" else None
            if clause.operator and spec is not None and spec.choices and clause.word not in spec.choices:
                choices = ", ".join(spec.choices)
                raise SopFieldError(loc, f"'{clause.word}' is not a choice of {clause.reference} ({choices})")

    def _check_edit_agent(self, step: StepSpec, loc: tuple) -> None:
        role = _check_role(step.review.on_edit, loc)
        fields = AGENT_ROLES[role].request_type.model_fields
        if "instruction" not in fields:
            raise SopFieldError(loc, f"agent '{role}' cannot carry out an edit instruction (use A1 or A3)")
        output = AGENT_ROLES[step.role].output_type
        edits_result = getattr(output, "export_name", None) in fields
        revises_inputs = bool(set(output_kinds(AGENT_ROLES[role].output_type)) & set(step.bindings))
        if not (edits_result or revises_inputs):
            raise SopFieldError(
                loc, f"agent '{role}' can neither edit the result of step '{step.id}' nor revise its inputs"
            )

    def _check_output(self, steps: dict[str, StepSpec]) -> None:
        if isinstance(self.output, str):
            if self.output not in steps:
                raise SopFieldError(("output",), f"'{self.output}' is not a step id (steps: {', '.join(steps)})")
            return
        for index, value in enumerate(self.output.join):
            loc = ("output", "join", index)
            try:
                binding = Binding.parse(value)
            except BindingError as error:
                raise SopFieldError(loc, str(error)) from None
            if binding.is_literal:
                raise SopFieldError(loc, f"{value!r} is not a reference to a video")
            for ref in binding.references:
                kind = self._reference_kind(ref, loc, steps)
                if kind != "video":
                    raise SopFieldError(loc, f"{ref} is {_ARTICLE[kind]}, but only videos can be joined")

    # -- inputs ----------------------------------------------------------------------------------

    def bind_inputs(self, given: dict[str, Any]) -> dict[str, str | float | int]:
        """Validate user inputs against :attr:`inputs`: unknown names, missing required ones, types, files.

        Raises:
            MoraError: one sentence naming the task and the input.
        """
        unknown = sorted(set(given) - set(self.inputs))
        if unknown:
            takes = ", ".join(self.inputs) or "nothing"
            raise MoraError(f"task '{self.name}' has no input '{unknown[0]}' (it takes {takes})")
        bound: dict[str, str | float | int] = {}
        for name, spec in self.inputs.items():
            value = given.get(name, spec.default)
            if value is None:
                if spec.required:
                    raise MoraError(f"task '{self.name}' needs the input '{name}' ({spec.description or spec.type})")
                continue
            try:
                bound[name] = spec.coerce(name, value)
            except ValueError as error:
                raise MoraError(f"task '{self.name}': {error}") from None
        return bound

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | Path) -> SopSpec:
        """Read and validate an SOP file.

        Raises:
            MoraError: ``<file>:<line> <field>: <problem>``.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise MoraError(f"cannot read SOP file {path}: {error.strerror or error}") from None
        except UnicodeDecodeError:
            raise MoraError(f"{path}: not a text file (SOP files are UTF-8 YAML)") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> SopSpec:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
            check_keys(root, source)
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise MoraError(yaml_problem(error, source)) from None
        except RecursionError:
            raise MoraError(f"{source}: not valid YAML (nested too deeply)") from None
        if not isinstance(data, dict):
            raise MoraError(f"{source}:1: an SOP file must be a mapping with name, description, steps and output")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            loc, message = describe_error(first_error(error.errors()))
            raise MoraError(located(source, root, loc, message)) from None

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> SopSpec:
        """Validate already-parsed data (no line numbers)."""
        return cls.from_text(yaml.safe_dump(data, sort_keys=False), source)


# -- helpers ------------------------------------------------------------------------------------------


def _check_role(agent: str, loc: tuple) -> str:
    role = role_of(agent)
    if role not in AGENT_ROLES:
        known = ", ".join(f"{alias} {name}" for alias, name in ROLE_ALIASES.items())
        raise SopFieldError(loc, f"unknown agent '{agent}' (known: {known})")
    return role


def _is_name(text: str) -> bool:
    return re.fullmatch(NAME, text) is not None


def _looks_like_reference(text: str) -> bool:
    """``inputs.prompt`` or ``first_frame.image``: a reference whose ``$`` was forgotten."""
    return re.fullmatch(rf"{NAME}\.{NAME}(\.{NAME})*", text.strip()) is not None


def field_kind(annotation: Any) -> Kind:
    """The binding kind a request field takes, from its type annotation."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return field_kind(options[0])
    if isinstance(annotation, type) and issubclass(annotation, ImageArtifact):
        return "image"
    if isinstance(annotation, type) and issubclass(annotation, VideoArtifact):
        return "video"
    return {str: "text", bool: "bool", int: "number", float: "number"}.get(annotation, "text")


def output_kinds(output_type: type[BaseModel]) -> dict[str, Kind]:
    """What ``$step.<key>`` can name in a step's output: the artifact itself (``export_name``) or the
    fields the message declares bindable (``bindable_fields``)."""
    kinds = {name: field_kind(output_type.model_fields[name].annotation) for name in _bindable(output_type)}
    export = getattr(output_type, "export_name", None)
    if export:
        kinds[export] = field_kind(output_type)
    return kinds


def _bindable(output_type: type[BaseModel]) -> tuple[str, ...]:
    return getattr(output_type, "bindable_fields", ())


def _is_number(word: str | None) -> bool:
    try:
        float(word or "")
    except ValueError:
        return False
    return True
