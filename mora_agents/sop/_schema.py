"""The SOP schema: one pydantic model for a declarative task file (``sop/*.yaml``).

An SOP names its inputs, its steps (each one agent, with bindings ``with:`` that reference inputs and
earlier steps' outputs) and which step's artifact is the result. Bindings are parsed by a tiny grammar
of our own, ``$source.key``: references only, never evaluated.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mora_agents.agents import ImageToVideoAgent, PromptEnhancerAgent, StageAgent, TextToImageAgent
from mora_agents.errors import MoraError

IDENTIFIER = r"[a-z_][a-z0-9_]*"
_REFERENCE = re.compile(rf"^\$({IDENTIFIER})\.({IDENTIFIER})$")

AGENT_ROLES: dict[str, type[StageAgent]] = {
    "prompt_enhancer": PromptEnhancerAgent,
    "text_to_image": TextToImageAgent,
    "image_to_video": ImageToVideoAgent,
}
"""Role name -> agent class. An SOP step's ``agent`` is a role name or its paper id (A1, A2, A4)."""

ROLE_ALIASES = {"A1": "prompt_enhancer", "A2": "text_to_image", "A4": "image_to_video"}

InputType = Literal["text", "seconds", "int"]
_PYTHON_TYPES: dict[str, type] = {"text": str, "seconds": float, "int": int}


class Reference(BaseModel):
    """A parsed binding: ``$inputs.prompt`` -> ``Reference(source="inputs", key="prompt")``."""

    source: str
    key: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        match = _REFERENCE.match(text.strip())
        if not match:
            raise ValueError(f"'{text}' is not a reference: write $inputs.<name> or $<step>.<output>")
        return cls(source=match.group(1), key=match.group(2))

    def __str__(self) -> str:
        return f"${self.source}.{self.key}"


class InputSpec(BaseModel):
    """One input of the task, as the user (or the director) supplies it."""

    model_config = ConfigDict(extra="forbid")

    type: InputType
    required: bool = False
    default: str | float | int | None = None
    description: str = ""

    def coerce(self, name: str, value: Any) -> str | float | int:
        """``value`` converted to this input's type, or a ``ValueError`` naming the input."""
        try:
            converted = _PYTHON_TYPES[self.type](value)
        except (TypeError, ValueError):
            raise ValueError(f"input '{name}' must be {self.type}, got {value!r}") from None
        if self.type == "text" and not str(converted).strip():
            raise ValueError(f"input '{name}' must not be empty")
        if self.type == "seconds" and not 0 < converted <= 600:
            raise ValueError(f"input '{name}' must be between 0 and 600 seconds, got {converted}")
        return converted


class ReviewSpec(BaseModel):
    """Who reviews a step's result and how often it may be redone (the paper's rule: 3)."""

    model_config = ConfigDict(extra="forbid")

    by: Literal["human"] = "human"
    max_iterations: int = Field(default=3, ge=1, le=10)
    on_edit: str | None = None
    """The agent role that carries out an ``edit`` instruction; without it, edits are refused."""


class StepSpec(BaseModel):
    """One stage: an agent, its bound inputs, an optional review."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(pattern=f"^{IDENTIFIER}$")
    agent: str
    bindings: dict[str, str] = Field(default_factory=dict, alias="with")
    review: ReviewSpec | None = None

    @property
    def role(self) -> str:
        return ROLE_ALIASES.get(self.agent, self.agent)

    def references(self) -> dict[str, Reference]:
        return {name: Reference.parse(text) for name, text in self.bindings.items()}


class SopSpec(BaseModel):
    """A task as a declarative file. Load with :meth:`from_file`; validation names file and field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{IDENTIFIER}$")
    description: str
    examples: list[str] = Field(default_factory=list)
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    steps: list[StepSpec] = Field(min_length=1)
    output: str
    """The step whose artifact is the task's result."""

    @model_validator(mode="after")
    def _check_graph(self) -> SopSpec:
        seen: dict[str, StepSpec] = {}
        for index, step in enumerate(self.steps):
            where = f"steps[{index}]"
            if step.id in seen or step.id == "inputs":
                raise ValueError(f"{where}.id: '{step.id}' is used twice (or is the reserved name 'inputs')")
            _check_role(step.role, f"{where}.agent")
            if step.review and step.review.on_edit:
                _check_role(ROLE_ALIASES.get(step.review.on_edit, step.review.on_edit), f"{where}.review.on_edit")
            request_fields = AGENT_ROLES[step.role].request_type.model_fields
            for name, text in step.bindings.items():
                field = f"{where}.with.{name}"
                if name not in request_fields or name == "seed":
                    raise ValueError(f"{field}: agent '{step.role}' takes no input '{name}'")
                try:
                    ref = Reference.parse(text)
                except ValueError as error:
                    raise ValueError(f"{field}: {error}") from None
                self._check_reference(ref, field, seen)
            missing = [
                name
                for name, info in request_fields.items()
                if info.is_required() and name != "seed" and name not in step.bindings
            ]
            if missing:
                raise ValueError(f"{where}.with: agent '{step.role}' needs {', '.join(missing)}")
            seen[step.id] = step
        if self.output not in seen:
            raise ValueError(f"output: '{self.output}' is not a step id")
        return self

    def _check_reference(self, ref: Reference, field: str, earlier: dict[str, StepSpec]) -> None:
        if ref.source == "inputs":
            if ref.key not in self.inputs:
                raise ValueError(f"{field}: {ref} names no declared input")
            return
        if ref.source not in earlier:
            later = any(step.id == ref.source for step in self.steps)
            why = "which is defined later" if later else "which does not exist"
            raise ValueError(f"{field}: {ref} refers to step '{ref.source}', {why}")
        output_type = AGENT_ROLES[earlier[ref.source].role].output_type
        keys = set(output_type.model_fields) | {getattr(output_type, "export_name", None)}
        if ref.key not in keys:
            raise ValueError(f"{field}: step '{ref.source}' has no output '{ref.key}'")

    def bind_inputs(self, given: dict[str, Any]) -> dict[str, str | float | int]:
        """Validate user inputs against :attr:`inputs`: unknown names, missing required ones, types.

        Raises:
            MoraError: one sentence naming the task and the input.
        """
        unknown = sorted(set(given) - set(self.inputs))
        if unknown:
            raise MoraError(f"task '{self.name}' has no input '{unknown[0]}' (it takes {', '.join(self.inputs)})")
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

    @classmethod
    def from_file(cls, path: str | Path) -> SopSpec:
        """Read and validate an SOP file.

        Raises:
            MoraError: ``<file>: <field>: <problem>`` for YAML or schema errors.
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise MoraError(f"cannot read SOP file {path}: {error.strerror or error}") from None
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, source: str = "<text>") -> SopSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise MoraError(f"{source}{line}: not valid YAML ({getattr(error, 'problem', None) or error})") from None
        return cls.from_dict(data, source)

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> SopSpec:
        if not isinstance(data, dict):
            raise MoraError(f"{source}: an SOP file must be a mapping with name, steps and output")
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = _location(first["loc"])
            message = first["msg"].removeprefix("Value error, ")
            raise MoraError(f"{source}: {where + ': ' if where else ''}{message}") from None


def _check_role(role: str, field: str) -> None:
    if role not in AGENT_ROLES:
        known = ", ".join(list(AGENT_ROLES) + list(ROLE_ALIASES))
        raise ValueError(f"{field}: unknown agent '{role}' (known: {known})")


def _location(loc: tuple) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts)


def resolve_output(output: BaseModel, key: str) -> Any:
    """The value ``$step.key`` names in a step's output: the whole artifact, or one of its fields."""
    if key == getattr(output, "export_name", None):
        return output
    return getattr(output, key)
