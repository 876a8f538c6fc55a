"""The one line the director says before running: what it understood, e.g. "extend clip 2 (a lighthouse at
night) by 2 s". Built from the SOP's ``summary`` template, so a user SOP explains itself with no code."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from mora_agents.director._labels import artifact_label, shows
from mora_agents.messages import InputBinding, SessionArtifact
from mora_agents.sop import SUMMARY_FIELD, SopSpec

PROMPT_CHARS = 80
"""A text input longer than this is cut in the explanation (the request keeps all of it)."""

_OPTIONAL = re.compile(r"\[([^\[\]]*)\]")


def explain(
    spec: SopSpec,
    inputs: Mapping[str, str | float | int],
    bindings: Sequence[InputBinding],
    artifacts: Sequence[SessionArtifact],
) -> str:
    """The understood request in one line: the SOP's ``summary`` with each ``{input}`` filled (``[...]`` parts
    whose inputs have no value dropped), or, without a summary, the task and its inputs."""
    values = {name: _show(name, inputs[name], spec, bindings, artifacts) for name in spec.inputs if name in inputs}
    template = spec.summary or _default_summary(spec)

    def optional(match: re.Match[str]) -> str:
        names = SUMMARY_FIELD.findall(match[1])
        return match[1] if all(name in values for name in names) else ""

    text = _OPTIONAL.sub(optional, template)
    text = SUMMARY_FIELD.sub(lambda m: values.get(m[1], f"(no {m[1].replace('_', ' ')})"), text)
    return " ".join(text.split())


def _default_summary(spec: SopSpec) -> str:
    parts = [f"[{name.replace('_', ' ')} {{{name}}}]" for name in spec.inputs]
    return spec.name.replace("_", " ") + (": " + "[, ]".join(parts) if parts else "")


def _show(
    name: str,
    value: str | float | int,
    spec: SopSpec,
    bindings: Sequence[InputBinding],
    artifacts: Sequence[SessionArtifact],
) -> str:
    kind = spec.inputs[name].type
    if kind in ("image", "video"):
        binding = next((b for b in bindings if b.input == name), None)
        artifact = next((a for a in artifacts if binding and a.index == binding.artifact), None)
        if artifact is None:
            return Path(str(value)).name
        what = f"{artifact_label(artifact, artifacts)} ({shows(artifact)})"
        return f"the {binding.frame} frame of {what}" if binding.frame else what
    if kind == "seconds":
        return f"{float(value):g} s"
    text = " ".join(str(value).split())
    if kind == "text":
        cut = text if len(text) <= PROMPT_CHARS else text[: PROMPT_CHARS - 1].rstrip(" ,;") + "…"
        return f'"{cut}"'
    return text
