"""What every SOP-driven agent shares: typed request in, typed result out, as ``StructuredMessage``s."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from pydantic import BaseModel

from mora_agents.errors import CancelledError
from tools.progress import CancelToken, NullProgress, ProgressSink, StageCancelled

T = TypeVar("T")


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
        result = await self.handle(request, stage, cancellation_token)
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
        """Run a blocking pipeline call in a worker thread; AutoGen cancellation stops it at the next step."""
        cancel = CancelToken()
        token.add_callback(cancel.cancel)
        try:
            return await asyncio.to_thread(func, cancel)
        except StageCancelled:
            raise CancelledError(f"stage '{stage}' was cancelled") from None
