"""The binding language of SOP files: references, accessors, fallbacks and conditions. Parsed, never run.

Grammar (whitespace around ``|``, ``==``, ``!=``, ``or`` is free)::

    binding    := literal | reference ( "|" reference )*       first reference that has a value
    reference  := "$" name "." name ( "." accessor )*          $inputs.prompt, $first_frame.image,
                                                               $inputs.video.last_frame
    condition  := clause ( " or " clause )*
    clause     := [ "not " ] reference                          true when the value exists (a step that ran,
                | reference ( "==" | "!=" ) word                an input that was given)

A literal is any YAML scalar that is not a string starting with ``$`` (``in digital world style``,
``true``, ``2``). Names are identifiers; accessors come from a fixed table (:data:`ACCESSORS`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAME = r"[a-z_][a-z0-9_]*"
_REFERENCE = re.compile(rf"^\$({NAME})\.({NAME})((?:\.{NAME})*)$")
_COMPARISON = re.compile(r"^(.+?)\s*(==|!=)\s*([A-Za-z0-9_.\-]+)$")

Kind = str
"""A value's type in the binding language: ``text``, ``number``, ``bool``, ``image`` or ``video``."""

ACCESSORS: dict[str, dict[str, Kind]] = {
    "video": {"first_frame": "image", "last_frame": "image", "duration": "number"},
}
"""What each kind of value offers after its name: a video's first and last frames (images) and its
duration in seconds."""


class BindingError(ValueError):
    """A binding or condition that does not parse; the message says what was expected."""


@dataclass(frozen=True)
class Reference:
    """``$source.key.accessor...``: ``source`` is ``inputs`` or a step id."""

    source: str
    key: str
    accessors: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Reference:
        if not isinstance(text, str):
            raise BindingError(f"{text!r} is not a reference: write $inputs.<name> or $<step>.<output>")
        match = _REFERENCE.match(text.strip())
        if not match:
            raise BindingError(f"'{text.strip()}' is not a reference: write $inputs.<name> or $<step>.<output>")
        accessors = tuple(part for part in match.group(3).split(".") if part)
        return cls(match.group(1), match.group(2), accessors)

    def __str__(self) -> str:
        return "$" + ".".join((self.source, self.key, *self.accessors))

    def describe(self) -> str:
        """In words, for progress lines: ``$inputs.video`` is "the input video", ``$continuation.video.last_frame``
        is "continuation's video (last frame)"."""
        owner = f"the input {self.key}" if self.source == "inputs" else f"{self.source}'s {self.key}"
        details = ", ".join(accessor.replace("_", " ") for accessor in self.accessors)
        return f"{owner} ({details})" if details else owner


@dataclass(frozen=True)
class Binding:
    """A parsed ``with:`` value: either a literal or one or more references (first available wins)."""

    references: tuple[Reference, ...] = ()
    literal: str | int | float | bool | None = None

    @property
    def is_literal(self) -> bool:
        return not self.references

    @classmethod
    def parse(cls, value: object) -> Binding:
        if isinstance(value, bool | int | float):
            return cls(literal=value)
        if not isinstance(value, str):
            raise BindingError(f"{type(value).__name__} is not a binding: write a reference or a plain value")
        if not value.strip().startswith("$"):
            if "$" in value:
                raise BindingError(f"'{value}' mixes text and references: write either plain text or $references")
            return cls(literal=value)
        return cls(references=tuple(Reference.parse(part) for part in value.split("|")))

    def __str__(self) -> str:
        return str(self.literal) if self.is_literal else " | ".join(map(str, self.references))

    def describe(self) -> str:
        """In words: the literal, or each reference described (alternatives joined by "or")."""
        return str(self.literal) if self.is_literal else " or ".join(ref.describe() for ref in self.references)


@dataclass(frozen=True)
class Clause:
    reference: Reference
    negated: bool = False
    operator: str | None = None
    """``==`` or ``!=`` compare the value's text with :attr:`word`; ``None`` tests that the value exists."""
    word: str | None = None


@dataclass(frozen=True)
class Condition:
    """A ``when:``: true when any clause is true."""

    clauses: tuple[Clause, ...]

    @classmethod
    def parse(cls, text: object) -> Condition:
        if not isinstance(text, str) or not text.strip():
            raise BindingError("a condition must be text such as '$inputs.image' or '$inputs.method == transfer'")
        return cls(tuple(_parse_clause(part.strip()) for part in re.split(r"\s+or\s+", text.strip())))

    def references(self) -> list[Reference]:
        return [clause.reference for clause in self.clauses]


def _parse_clause(text: str) -> Clause:
    comparison = _COMPARISON.match(text)
    if text.startswith("not ") and ("==" in text or "!=" in text):
        raise BindingError(f"'{text}': 'not' cannot negate a comparison, write != (or ==) instead")
    if comparison:
        return Clause(Reference.parse(comparison.group(1)), operator=comparison.group(2), word=comparison.group(3))
    if "==" in text or "!=" in text:
        raise BindingError(
            f"'{text}' is not a comparison: write $reference == word, with one word of letters, digits, _ . or -"
        )
    if text.startswith("not "):
        return Clause(Reference.parse(text[4:]), negated=True)
    return Clause(Reference.parse(text))


def literal_kind(value: object) -> Kind:
    """The kind of a literal: ``bool`` before ``number`` (in Python a bool is an int)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text"
