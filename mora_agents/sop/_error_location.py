"""Where in an SOP file a problem is: a pydantic or YAML error turned into ``<file>:<line> <field>: <problem>``.

The schema (:mod:`mora_agents.sop._schema`) raises :class:`SopFieldError` from its validators and hands every
error here; this module knows YAML nodes and pydantic's error dicts, not what an SOP means.
"""

from __future__ import annotations

import difflib
from datetime import date

import yaml

from mora_agents.errors import MoraError


class SopFieldError(ValueError):
    """A problem at one field of an SOP file; ``loc`` is the path, e.g. ``("steps", 2, "with", "image")``."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


# Misspelt fields are matched against these when pydantic does not say which field was meant.
_FIELD_NAMES = (
    "name description examples inputs steps output type required default choices id agent with review when "
    "by max_iterations on_edit join"
).split()


def first_error(errors: list[dict]) -> dict:
    """The error to report: a misspelt field beats the 'missing' error it causes."""
    first = errors[0]
    if first["type"] == "missing":
        parent = tuple(first["loc"][:-1])
        for error in errors:
            if error["type"] == "extra_forbidden" and tuple(error["loc"][:-1]) == parent:
                missing = [
                    str(e["loc"][-1]) for e in errors if e["type"] == "missing" and tuple(e["loc"][:-1]) == parent
                ]
                return {**error, "candidates": missing}
    return first


def describe_error(error: dict) -> tuple[tuple, str]:
    """Location and message of a pydantic error, in our words."""
    original = (error.get("ctx") or {}).get("error")
    loc = tuple(error["loc"])
    if isinstance(original, SopFieldError):
        return (*loc, *original.loc), original.message
    kind = error["type"]
    if "[key]" in loc or error["msg"] == "Keys should be strings":
        key_loc = tuple(part for part in loc if part != "[key]")
        return key_loc, "this key must be text: YAML reads yes/no/on/off as true/false and ~ as null, so quote it"
    if kind == "missing":
        return loc, "is required"
    if kind == "extra_forbidden":
        word = str(loc[-1])
        guess = difflib.get_close_matches(word, error.get("candidates") or _FIELD_NAMES, n=1)
        return loc, f"unknown field '{word}'" + (f"; did you mean '{guess[0]}'?" if guess else "")
    if kind == "string_pattern_mismatch":
        rule = "lower-case letters, digits and _, not starting with a digit"
        return loc, f"{error['input']!r} is not an identifier ({rule})"
    if loc and loc[0] == "output":
        # A union (a step id or a join) reports one error per member; say what either form is.
        return ("output",), "must be a step id or a mapping {join: [video references]}"
    if "default" in loc:
        # The default is a union too (text or a number): drop the member's name from the path.
        return loc[: loc.index("default") + 1], "must be text or a number"
    if kind == "string_type" and (error["input"] is None or isinstance(error["input"], bool | date)):
        return loc, (
            f"{error['input']!r} is not text: YAML reads yes/no/on/off as true/false, ~ as null and "
            "2024-01-01 as a date, so quote it"
        )
    message = error["msg"].removeprefix("Value error, ")
    message = message.replace("Input should be", "must be").replace("List should have at least", "needs at least")
    return loc, message.replace(" after validation, not 0", "")


def located(source: str, root: yaml.Node | None, loc: tuple, message: str) -> str:
    """``message`` about ``loc`` as ``<source>:<line> <field>: <message>``, the line found in the YAML ``root``."""
    line, shown = _locate(root, loc)
    where = format_loc(shown)
    return f"{source}:{line} {where}: {message}" if where else f"{source}:{line}: {message}"


def format_loc(loc: tuple) -> str:
    """A field path as written in messages: ``("steps", 2, "with")`` -> ``steps[2].with``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _locate(root: yaml.Node | None, loc: tuple) -> tuple[int, tuple]:
    """1-based line of the deepest node of ``loc`` in the YAML (a key's own line for mappings), and ``loc``
    with each key as written in the file (YAML's ``yes`` rather than Python's ``True``)."""
    node, line, shown = root, (root.start_mark.line + 1 if root is not None else 1), list(loc)
    for index, part in enumerate(loc):
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if _key_matches(k, part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
            shown[index] = match[0].value
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line, tuple(shown)


def _key_matches(key: yaml.Node, part: object) -> bool:
    if not isinstance(key, yaml.ScalarNode):
        return False
    if key.value == part:
        return True
    try:
        return yaml.safe_load(key.value) == part if key.style is None else False
    except yaml.YAMLError:
        return False


def check_keys(node: yaml.Node | None, source: str, path: tuple = (), seen: set[int] | None = None) -> None:
    """Refuse what ``safe_load`` would accept silently: duplicate keys (YAML keeps the last), keys that are
    not plain text, and aliases that refer to themselves."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:
        if node is not None:
            raise MoraError(f"{source}:{node.start_mark.line + 1} {format_loc(path)}: an alias refers to itself")
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        names: set[str] = set()
        for key, value in node.value:
            where = f"{source}:{key.start_mark.line + 1}"
            if not isinstance(key, yaml.ScalarNode):
                raise MoraError(f"{where} {format_loc(path) or '(top level)'}: a key must be plain text")
            if key.value in names:
                raise MoraError(f"{where} {format_loc((*path, key.value))}: duplicate key '{key.value}'")
            names.add(key.value)
            check_keys(value, source, (*path, key.value), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            check_keys(item, source, (*path, index), seen)
    seen.discard(id(node))


def yaml_problem(error: yaml.YAMLError, source: str) -> str:
    """A YAML parse error as ``<source>:<line>: not valid YAML (<problem>)``."""
    mark = getattr(error, "problem_mark", None)
    line = f":{mark.line + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    context, opened = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and opened is not None and (mark is None or opened.line != mark.line):
        # An unclosed quote or bracket is only noticed at the end: say where it opened.
        problem = f"{problem}, {context} at line {opened.line + 1}"
    return f"{source}{line}: not valid YAML ({problem})"
