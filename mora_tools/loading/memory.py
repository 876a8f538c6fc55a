"""Where loaded models live between stages: lazy loading, the profile's memory policy, and the OOM fallback.

Tools are loaded on first use through a :class:`ModelMemory` and, when a stage ends, the policy decides
what stays (paper App. B.4: freeing each agent's models when its stage ends makes a run's peak memory
that of its heaviest single agent):

- ``free``: every loaded tool is released; garbage is collected and the allocators' caches emptied.
- ``offload``: pipelines are loaded with diffusers' model CPU offload (weights in CPU memory, each model
  moved to the accelerator only while it runs), so the accelerator's peak is one model rather than one
  pipeline; at the end of the stage they are released as with ``free``, so CPU memory holds one stage's
  models at a time. On a machine without an accelerator there is nothing to offload from: ``free``.
- ``keep``: tools stay loaded for the next request; over the budget, the least recently used go first.

A pipeline call that runs out of memory is retried once after reloading its tool with CPU offload (where
there is an accelerator) and VAE slicing/tiling (:meth:`ManagedTool.fall_back_to_low_memory`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from mora_agents.errors import MoraError

logger = logging.getLogger("mora.memory")

POLICIES = ("free", "offload", "keep")


@dataclass
class LoadOptions:
    """How :func:`mora_tools.loading.models.load_pipeline` places the pipelines it loads while these options are
    active."""

    offload: bool = False
    """Enable diffusers' model CPU offload instead of moving the whole pipeline to the device."""
    low_memory: bool = False
    """Also enable VAE slicing and tiling (the out-of-memory fallback)."""
    compile: bool = False
    """``torch.compile`` the denoiser (``unet`` / ``transformer``): slower first call, faster steps after."""
    applied: list[str] = field(default_factory=list)
    """What was actually switched on, in words (filled by ``load_pipeline``; shown in the manifest)."""


_LOAD_OPTIONS: ContextVar[LoadOptions | None] = ContextVar("mora_load_options", default=None)


def current_load_options() -> LoadOptions:
    """The options of the innermost :func:`loading_with`, or the defaults (move the pipeline to the device)."""
    return _LOAD_OPTIONS.get() or LoadOptions()


@contextlib.contextmanager
def loading_with(options: LoadOptions) -> Iterator[LoadOptions]:
    """Load pipelines with ``options`` inside the block (a context variable: tool factories need no new arguments)."""
    reset = _LOAD_OPTIONS.set(options)
    try:
        yield options
    finally:
        _LOAD_OPTIONS.reset(reset)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation failure on any device (CUDA/MPS/XPU, or the CPU allocator)."""
    import torch

    if isinstance(error, torch.OutOfMemoryError):
        return True
    text = str(error)
    # The CPU and MPS allocators raise plain RuntimeErrors; their messages are stable across torch 2.x.
    return isinstance(error, RuntimeError) and (
        "DefaultCPUAllocator: can't allocate memory" in text or "MPS backend out of memory" in text
    )


def release_memory() -> None:
    """Collect garbage and hand cached memory back: the CUDA/MPS caching allocators' and glibc's heap."""
    gc.collect()
    if "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        mps = getattr(torch, "mps", None)
        if mps is not None and torch.backends.mps.is_available():
            mps.empty_cache()
    if sys.platform.startswith("linux"):
        # glibc keeps freed small-and-medium blocks in its arenas; trimming returns them to the OS, so a
        # freed stage's memory is really available to the next one (and peak RSS shows it).
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)


def tool_bytes(tool: Any) -> int:
    """Memory held by the torch modules of every pipeline a tool holds (shared modules counted once)."""
    seen: set[int] = set()
    total = 0
    for pipeline in _pipelines_of(tool):
        for component in pipeline.components.values():
            if id(component) in seen or not hasattr(component, "parameters"):
                continue
            seen.add(id(component))
            tensors = [*component.parameters(), *component.buffers()]
            total += sum(t.numel() * t.element_size() for t in tensors)
    return total


def _pipelines_of(tool: Any) -> list[Any]:
    from diffusers import DiffusionPipeline

    return [value for value in vars(tool).values() if isinstance(value, DiffusionPipeline)]


class ModelMemory:
    """The loaded tools of a run or a whole session, under one memory policy.

    Args:
        policy (`str`, defaults to ``"free"``): ``free``, ``offload`` or ``keep`` (see the module docstring).
        budget_bytes (`int`, *optional*): ``keep`` only: the most the kept tools may hold; ``None``: no limit.
        compile (`bool`, defaults to ``False``): ``torch.compile`` each pipeline's denoiser when it loads.

    Example:

    ```py
    >>> memory = ModelMemory("keep")
    >>> tool = memory.tool("text_to_image", lambda: TextToImageTool.from_profile(profile), profile.text_to_image)
    >>> image = tool("a red car", seed=0).image  # loads on first use
    >>> memory.stage_finished()  # "keep": stays loaded for the next request
    ```
    """

    def __init__(self, policy: str = "free", budget_bytes: int | None = None, compile: bool = False) -> None:
        if policy not in POLICIES:
            raise MoraError(f"unknown memory policy '{policy}': choose one of {', '.join(POLICIES)}")
        self.policy = policy
        self.budget_bytes = budget_bytes
        self.compile = compile
        self._loaded: OrderedDict[str, Any] = OrderedDict()
        self._low_memory: set[str] = set()
        self._applied: dict[str, list[str]] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self.loads = 0
        """How many times a tool was loaded (a reused tool is not counted again)."""

    @classmethod
    def for_profile(cls, profile: Any, policy: str | None = None, compile: bool = False) -> ModelMemory:
        """The profile's ``memory`` settings, with ``policy`` overriding its policy."""
        settings = profile.memory
        budget = int(settings.budget_gb * 2**30) if settings.budget_gb else None
        return cls(policy or settings.policy, budget, compile)

    def tool(self, key: str, factory: Callable[[], Any], settings: Any) -> ManagedTool:
        """A handle agents call like the tool itself; the tool loads on the first call."""
        return ManagedTool(self, key, factory, settings)

    def on_load(self, listener: Callable[[str, Any], None]) -> None:
        """Call ``listener(key, tool)`` after each load (benchmarks and tests watch loads with it)."""
        self._listeners.append(listener)

    def is_loaded(self, key: str) -> bool:
        return key in self._loaded

    @property
    def loaded_keys(self) -> list[str]:
        """Keys of the loaded tools, least recently used first."""
        return list(self._loaded)

    def applied(self, key: str) -> list[str]:
        """The memory levers switched on when ``key`` was last loaded (e.g. ``model CPU offload``)."""
        return list(self._applied.get(key, []))

    def acquire(self, key: str, factory: Callable[[], Any]) -> Any:
        """The tool under ``key``, loading it with ``factory`` unless it is loaded already."""
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        options = LoadOptions(
            offload=self.policy == "offload" or key in self._low_memory,
            low_memory=key in self._low_memory,
            compile=self.compile,
        )
        with loading_with(options):
            tool = factory()
        self.loads += 1
        self._loaded[key] = tool
        self._applied[key] = options.applied
        for listener in self._listeners:
            listener(key, tool)
        if self.policy == "keep":
            self._evict_over_budget(keep=key)
        return tool

    def stage_finished(self) -> None:
        """Apply the policy: ``free`` and ``offload`` release every loaded tool; ``keep`` trims to the budget."""
        if self.policy in ("free", "offload"):
            self.release_all()
        elif self.policy == "keep":
            self._evict_over_budget()

    def drop(self, key: str) -> None:
        """Release one tool (if loaded) and hand its memory back."""
        if self._loaded.pop(key, None) is not None:
            release_memory()

    def release_all(self) -> None:
        """Release every loaded tool and hand the memory back."""
        self._loaded.clear()
        release_memory()

    def fall_back_to_low_memory(self, key: str) -> None:
        """Reload ``key`` with CPU offload and VAE slicing/tiling from now on (after an out-of-memory error)."""
        self._low_memory.add(key)
        self.drop(key)

    def _evict_over_budget(self, keep: str | None = None) -> None:
        if self.budget_bytes is None:
            return
        while sum(tool_bytes(tool) for tool in self._loaded.values()) > self.budget_bytes:
            victim = next((k for k in self._loaded if k != keep), None)
            if victim is None:
                return  # the tool in use alone exceeds the budget: it stays until its stage ends
            logger.info("memory: evicting %s (budget %.2f GiB)", victim, self.budget_bytes / 2**30)
            self.drop(victim)


class ManagedTool:
    """A tool loaded through :class:`ModelMemory` on its first call; agents call it like the tool itself.

    Attributes:
        settings: the tool's profile settings, readable before loading (agents read e.g. ``settings.fps``).
    """

    def __init__(self, memory: ModelMemory, key: str, factory: Callable[[], Any], settings: Any) -> None:
        self.memory = memory
        self.key = key
        self.settings = settings
        self._factory = factory

    @property
    def loaded(self) -> bool:
        return self.memory.is_loaded(self.key)

    def load(self) -> Any:
        return self.memory.acquire(self.key, self._factory)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def fall_back_to_low_memory(self) -> str:
        """Prepare the retry after an out-of-memory error; returns what the next load will switch on, in words."""
        self.memory.fall_back_to_low_memory(self.key)
        logger.warning("%s ran out of memory: retrying once with CPU offload and VAE slicing/tiling", self.key)
        return "reloaded after running out of memory"

    def memory_levers(self) -> list[str]:
        """What the current load switched on (offload, VAE slicing/tiling, ...)."""
        return self.memory.applied(self.key)
