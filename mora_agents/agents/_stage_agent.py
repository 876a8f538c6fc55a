"""What every SOP-driven agent shares: typed request in, typed result out, as ``StructuredMessage``s."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, TypeVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel

from mora_agents.errors import CancelledError
from mora_tools.loading.models import use_torch_threads
from mora_tools.pipelines.progress import CancelToken, NullProgress, ProgressSink, StageCancelled

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
