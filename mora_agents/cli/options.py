"""The options many commands share, declared once, and the one place they become a :class:`StudioConfig`.

A command that makes a studio takes ``options: StudioOptions`` and is decorated with :func:`studio_options`, which
gives it one typer option per field; :func:`studio_config` turns them (with the command's own profile and review)
into the studio's configuration. Nothing here imports the studio until a command runs: ``mora --help`` stays fast.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from mora_agents.console import LlmOption

if TYPE_CHECKING:
    from mora_agents.studio import StudioConfig

R = TypeVar("R")

MAX_SEED = 2**63 - 1
"""The largest seed (:data:`mora_agents.messages.MAX_SEED`; not imported from there, so `mora --help` loads no
pydantic models)."""

DeviceOption = Annotated[str | None, typer.Option(help="Torch device (cuda, mps, cpu); default: the best found.")]
DtypeOption = Annotated[
    str | None,
    typer.Option(help="Precision overriding the profile's: float32, float16, bfloat16 (default: bf16/fp16 on GPU)."),
]
MemoryOption = Annotated[
    str | None,
    typer.Option(
        "--memory",
        help="What happens to a stage's models when it ends: free, offload (GPU: model CPU offload) or keep "
        "(reuse them in the next request); default: the profile's.",
    ),
]
CompileOption = Annotated[
    bool, typer.Option("--compile", help="torch.compile the denoisers on load (GPU: faster steps after a slow first).")
]
JudgeOption = Annotated[
    list[str] | None,
    typer.Option(
        help="With --review judge, a judge (repeatable): metric, 'metric:motion_smoothness=1,flicker=-1,"
        "threshold=0.6', openai, or openai:MODEL (MORA_JUDGE_* env); scripted answers or you break ties."
    ),
]
AdaptersOption = Annotated[
    Path | None,
    typer.Option(
        "--adapters",
        metavar="RUN",
        help="A `mora learn train` run folder (or its adapters/): generate with the LoRA weights and modulation "
        "embeddings it trained for A2 and A4.",
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        help="Where the models run: local (this process) or ray (each role's tool an actor on a Ray cluster; "
        'pip install "mora-agents\\[ray]").'
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="ADDRESS",
        help="With --engine ray: the cluster to join (auto, HOST:PORT); default: the one `ray start` made on this "
        "machine, else a new local one.",
    ),
]
SopDirOption = Annotated[
    list[Path] | None,
    typer.Option("--sop-dir", help="Extra folder of SOP files (repeatable); overrides built-in and user tasks."),
]


@dataclass(frozen=True)
class StudioOptions:
    """How every command that makes a studio loads and runs the models: the same options, the same help."""

    llm: LlmOption = None
    device: DeviceOption = None
    dtype: DtypeOption = None
    memory: MemoryOption = None
    compile: CompileOption = False
    adapters: AdaptersOption = None
    engine: EngineOption = "local"
    ray_address: RayAddressOption = None


DEFAULT_OPTIONS = StudioOptions()
"""The ``options`` default of a command's own signature (:func:`studio_options` replaces it with the options)."""


def studio_options(command: Callable[..., R]) -> Callable[..., R]:
    """Give ``command`` one typer option per :class:`StudioOptions` field, in place of its ``options`` parameter,
    and call it with them gathered into ``options``."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    option_hints = typing.get_type_hints(StudioOptions, include_extras=True)
    shared = [
        inspect.Parameter(
            field.name, inspect.Parameter.KEYWORD_ONLY, default=field.default, annotation=option_hints[field.name]
        )
        for field in fields(StudioOptions)
    ]
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name == "options":
            parameters.extend(shared)
        else:
            # Keyword-only: typer passes every option by name, and a required option may follow defaulted ones.
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[parameter.name]))

    @functools.wraps(command)
    def with_options(**kwargs: typing.Any) -> R:
        options = StudioOptions(
            **{field.name: kwargs.pop(field.name, field.default) for field in fields(StudioOptions)}
        )
        return command(options=options, **kwargs)

    with_options.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {parameter.name: parameter.annotation for parameter in parameters}
    return with_options


def studio_config(
    options: StudioOptions,
    *,
    profile: str,
    review: str,
    judges: list[str] | None = None,
    decisions: list[str] | None = None,
) -> StudioConfig:
    """The studio configuration of a command: its shared ``options`` with its own profile, review, judges and
    scripted decisions. The adapters folder is checked here, before anything is created (one sentence if wrong)."""
    from mora_agents.studio import StudioConfig

    return StudioConfig(
        profile=profile,
        llm=options.llm,
        review=review,
        decisions=list(decisions or []),
        judges=list(judges or []),
        device=options.device,
        dtype=options.dtype,
        memory=options.memory,
        compile=options.compile,
        adapters=checked_adapters(options.adapters),
        engine=options.engine,
        ray_address=options.ray_address,
    )


def checked_adapters(path: Path | None) -> str | None:
    """The adapters folder ``--adapters`` names, checked before anything is created (one sentence if not)."""
    if path is None:
        return None
    from mora_tools.adapters.apply import adapters_dir

    return str(adapters_dir(path))
