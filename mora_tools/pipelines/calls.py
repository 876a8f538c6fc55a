"""Calling a pipeline of any family the same way: the tools never branch on a model's name.

A tool offers every keyword it knows (``prompt``, ``negative_prompt``, ``guidance_scale``, ``fps``, ...);
:func:`pipeline_kwargs` keeps those the loaded pipeline's ``__call__`` takes and adds the profile's ``call_args``
verbatim. So SDXL gets its ``negative_prompt`` and FLUX does not miss one, SVD gets ``fps`` and Wan gets the prompt.
:func:`check_pipeline` checks once, right after loading, that the pipeline can play the role at all, in one
sentence a user can act on.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from mora_agents.errors import MoraError


def call_parameters(pipe: Any) -> frozenset[str]:
    """The keyword arguments ``pipe.__call__`` names. A ``**kwargs`` does not count: in diffusers it only catches
    deprecated arguments (InstructPix2Pix's ``callback``), so a keyword it would swallow is one the pipeline
    ignores."""
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return frozenset(name for name, p in inspect.signature(pipe.__call__).parameters.items() if p.kind in named)


def takes(pipe: Any, name: str) -> bool:
    """Whether ``pipe.__call__`` takes the keyword ``name``."""
    return name in call_parameters(pipe)


def temporal_compression(pipe: Any) -> int | None:
    """How many frames a video pipeline's VAE folds into one latent frame after the first (Wan: 4), or ``None``
    when it decodes every latent frame to one frame (SVD). Such pipelines only make ``factor * k + 1`` frames."""
    factor = getattr(pipe, "vae_scale_factor_temporal", None)
    return factor if isinstance(factor, int) and factor > 1 else None


def check_pipeline(
    pipe: Any,
    *,
    needs: Iterable[str],
    call_args: Mapping[str, Any],
    role: str,
    model: str,
    what: str,
) -> None:
    """Check that ``pipe`` can play ``role``: it takes ``needs`` and every ``call_args`` key, reports its steps,
    and has the libraries its prompt handling imports.

    Args:
        pipe: the loaded pipeline.
        needs: keywords the role cannot do without (``prompt`` for text to image, ``image`` for an edit).
        call_args: the profile's ``call_args`` for the role.
        role: the profile section, for the message (``image_to_video``).
        model: the model reference, for the message.
        what: what the role needs, for the message ("a text-to-image pipeline").

    Raises:
        MoraError: naming the model, its pipeline class and what is missing.
    """
    name = type(pipe).__name__
    accepted = call_parameters(pipe)
    missing = [needed for needed in needs if needed not in accepted]
    if missing:
        raise MoraError(
            f"model '{model}' ({role}) is a {name}, which takes no `{missing[0]}`: {role} needs {what}; "
            "name another model in the profile"
        )
    if "callback_on_step_end" not in accepted:
        raise MoraError(
            f"model '{model}' ({role}) is a {name}, which takes no `callback_on_step_end`: mora could neither "
            "report its progress nor cancel it; name another model in the profile"
        )
    unknown = sorted(set(call_args) - accepted)
    if unknown:
        raise MoraError(
            f"{role}.call_args names `{unknown[0]}`, which {name} (model '{model}') does not take: "
            "remove it or check the spelling against the pipeline's documentation"
        )
    module = sys.modules.get(type(pipe).__module__)
    if module is not None and hasattr(module, "is_ftfy_available") and not module.is_ftfy_available():
        # Wan-style pipelines clean every prompt with ftfy, imported only if installed: fail now, not mid-run.
        raise MoraError(f"model '{model}' ({role}) is a {name}, which cleans prompts with ftfy: pip install ftfy")


def pipeline_kwargs(pipe: Any, offered: Mapping[str, Any], call_args: Mapping[str, Any]) -> dict[str, Any]:
    """``offered`` less what ``pipe.__call__`` does not take, plus ``call_args`` as given."""
    accepted = call_parameters(pipe)
    kwargs = {key: value for key, value in offered.items() if key in accepted}
    kwargs.update(call_args)
    return kwargs


def recorded(kwargs: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The manifest's record of the scalar settings among ``names`` that a call really passed."""
    return {name: kwargs[name] for name in names if name in kwargs}
