"""What every SOP-driven agent shares: typed request in, typed result out, as ``StructuredMessage``s."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from PIL import Image
from pydantic import BaseModel

from mora_agents.errors import CancelledError, MoraError
from mora_agents.media import VideoFileWriter, save_png
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file
from mora_tools.loading import use_torch_threads
from mora_tools.memory import is_out_of_memory
from mora_tools.progress import CancelToken, NullProgress, ProgressSink, StageCancelled

T = TypeVar("T")

PIPELINE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mora-pipeline")
"""The one thread every model call runs in, for the life of the process. ``asyncio.to_thread`` starts a new
thread with each event loop, i.e. each request, and torch's CPU kernels ran 9% slower in a fresh thread than
in one that had run them before (bench-cpu SDXL, median of 4 calls each: 3.32 s against 3.08 s). One call at
a time is also what the memory policies plan for."""


def _torch_threads() -> int | None:
    """Torch's intra-op thread count in the calling thread; ``None`` while torch is not imported."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


async def until_finished(call: asyncio.Future[T], stop: Callable[[], None]) -> T:
    """Await ``call`` (native work in another thread); if the awaiting task is cancelled, ``stop()`` it and wait for
    the thread to let go before the cancellation goes on: cancelling never leaves a model in use behind."""
    try:
        return await asyncio.shield(call)
    except asyncio.CancelledError:
        stop()
        while not call.done():
            with contextlib.suppress(asyncio.CancelledError):  # cancelled again: still wait for the thread
                await asyncio.wait([call])
        if not call.cancelled():
            call.exception()  # retrieved: its outcome (StageCancelled, most likely) does not matter any more
        raise


def _with_threads(threads: int | None, func: Callable[[CancelToken], T], cancel: CancelToken) -> T:
    # PIPELINE_THREAD runs with the caller's torch thread count, not the one it had when it first ran a kernel.
    use_torch_threads(threads)
    return func(cancel)


class StageAgent(BaseChatAgent):
    """Base of the agents an SOP step can name.

    Subclasses set :attr:`request_type` and :attr:`output_type` and implement :meth:`handle`. The last
    message given to :meth:`on_messages` must be a ``StructuredMessage[request_type]``; its ``metadata``
    may carry ``stage`` (the SOP step id, used to name files and progress bars).
    """

    request_type: ClassVar[type[BaseModel]]
    output_type: ClassVar[type[BaseModel]]

    def __init__(self, name: str, description: str, progress: ProgressSink | None = None) -> None:
        super().__init__(name=name, description=description)
        self.progress = progress or NullProgress()

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[self.output_type],)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        request, stage = self._read_request(messages)
        try:
            result = await self.handle(request, stage, cancellation_token)
        except asyncio.CancelledError:
            if not cancellation_token.is_cancelled():
                raise  # the task itself was cancelled (a server stopping): not the user's cancel
            # The token cancelled a future the handler awaited (an LLM call: AutoGen's link_future): the user's
            # cancel, reported as the run's own CancelledError, like a pipeline's.
            raise CancelledError(f"stage '{stage}' was cancelled") from None
        message = StructuredMessage[self.output_type](content=result, source=self.name, metadata={"stage": stage})
        return Response(chat_message=message)

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """Stage agents keep no conversation state between requests."""

    async def handle(self, request: Any, stage: str, cancellation_token: CancellationToken) -> BaseModel:
        raise NotImplementedError

    def _read_request(self, messages: Sequence[BaseChatMessage]) -> tuple[Any, str]:
        if not messages:
            raise ValueError(f"{self.name} needs a {self.request_type.__name__} message, got none")
        last = messages[-1]
        content = getattr(last, "content", None)
        if not isinstance(content, self.request_type):
            raise TypeError(
                f"{self.name} expects StructuredMessage[{self.request_type.__name__}], got {type(last).__name__}"
            )
        return content, last.metadata.get("stage", self.name)

    async def run_blocking(self, func: Callable[[CancelToken], T], stage: str, token: CancellationToken) -> T:
        """Run a blocking pipeline call in the model thread; AutoGen cancellation stops it at the next step.

        Cancelled in any way (the token, or the task awaiting this), it returns only once the native call has
        ended: a model is never left running for a job that is gone while the next one uses it.
        """
        cancel = CancelToken()
        token.add_callback(cancel.cancel)
        threads = _torch_threads()
        call = asyncio.get_running_loop().run_in_executor(PIPELINE_THREAD, _with_threads, threads, func, cancel)
        try:
            return await until_finished(call, cancel.cancel)
        except StageCancelled:
            raise CancelledError(f"stage '{stage}' was cancelled") from None


class ToolAgent(StageAgent):
    """A stage agent that calls one generative tool and writes its result into the run's workspace.

    Subclasses set :attr:`role` (their system prompt is ``prompts/<role>.txt``, used as the AutoGen
    ``description``). Results are written atomically under ``stages/`` and described by an artifact.
    """

    role: ClassVar[str]

    def __init__(self, name: str, tool: Any, workspace: Workspace, progress: ProgressSink | None = None) -> None:
        super().__init__(name, role_prompt(self.role), progress)
        self.tool = tool
        self.workspace = workspace
        self.memory_fallback: str | None = None
        """Set when the last tool call ran out of memory and succeeded on its retry (goes into the manifest)."""

    async def run_blocking(self, func: Callable[[CancelToken], T], stage: str, token: CancellationToken) -> T:
        """Run the tool call; after an out-of-memory error, once more with the tool reloaded in low-memory mode.

        Tools loaded through :class:`mora_tools.memory.ModelMemory` know how to reload that way; others fail at once.
        """
        self.memory_fallback = None
        try:
            return await super().run_blocking(func, stage, token)
        except Exception as error:  # noqa: BLE001 - only memory errors are handled, the rest re-raised
            if not (is_out_of_memory(error) and hasattr(self.tool, "fall_back_to_low_memory")):
                raise
            message = str(error).splitlines()[0]
        # Retried outside the except block: the traceback's frames still hold the failed call's tensors.
        self.tool.fall_back_to_low_memory()
        try:
            result = await super().run_blocking(func, stage, token)
        except Exception as error:  # noqa: BLE001
            if is_out_of_memory(error):
                raise MoraError(
                    f"stage '{stage}' ran out of memory, even retried with CPU offload and VAE slicing/tiling: "
                    "use a smaller profile or resolution, or free the device's memory"
                ) from None
            raise
        levers = ", ".join(self.tool.memory_levers()) or "a fresh load (no offload or VAE lever applies here)"
        self.memory_fallback = f"out of memory ({message[:120]}); retried once with {levers}"
        return result

    def _recorded(self, fields: dict[str, Any]) -> dict[str, Any]:
        if self.memory_fallback:
            fields["parameters"] = {**fields.get("parameters", {}), "memory_fallback": self.memory_fallback}
        return fields

    def new_file(self, stage: str, suffix: str) -> tuple[str, Path]:
        """A fresh ``stages/<stage>[_n]<suffix>``: regenerated iterations keep their own files."""
        relative = self.workspace.unique_name(f"stages/{stage}", suffix)
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        return relative, path

    def save_image(self, image: Image.Image, stage: str, *, started: float, **fields: Any) -> ImageArtifact:
        """Write ``image`` as a PNG and describe it; ``fields`` are the artifact's model_id, parameters, seed."""
        relative, path = self.new_file(stage, ".png")
        save_png(image, path)
        return ImageArtifact(
            path=relative,
            sha256=sha256_file(path),
            seconds=round(time.perf_counter() - started, 3),
            width=image.width,
            height=image.height,
            **self._recorded(fields),
        )

    async def write_video(
        self, stage: str, fps: float, generate: Callable[[Callable, CancelToken], T], token: CancellationToken
    ) -> tuple[str, T, int]:
        """Run ``generate(on_frame, cancel)`` in a worker thread, streaming its frames into a new MP4.

        Returns:
            The file's workspace-relative path, what ``generate`` returned, and the frames written.
        """
        relative, path = self.new_file(stage, ".mp4")

        def run(cancel: CancelToken) -> tuple[T, int]:
            with VideoFileWriter(path, fps=fps) as writer:
                result = generate(writer.append, cancel)
            return result, writer.num_frames

        result, frames = await self.run_blocking(run, stage, token)
        return relative, result, frames

    def video_artifact(self, relative: str, *, started: float, **fields: Any) -> VideoArtifact:
        return VideoArtifact(
            path=relative,
            sha256=sha256_file(self.workspace.path(relative)),
            seconds=round(time.perf_counter() - started, 3),
            **self._recorded(fields),
        )
