"""Event streams that a client can follow: the stored events first, then live ones as they happen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable


class EventStreams:
    """Live listeners by stream key (a job's or a session's id)."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[asyncio.Queue]] = {}

    async def follow(
        self,
        key: str,
        stored: Callable[[str, int], list[tuple[int, str]]],
        after: int,
        finished: Callable[[], bool],
    ) -> AsyncIterator[tuple[int, str]]:
        """``stored(key, after)``'s events, then live ones (:meth:`publish`), until ``finished()`` and none wait."""
        # A listener registered before the read misses nothing in between.
        listener: asyncio.Queue = asyncio.Queue()
        self._listeners.setdefault(key, []).append(listener)
        try:
            for seq, data in stored(key, after):
                after = seq
                yield seq, data
            while True:
                if finished() and listener.empty():
                    return
                try:
                    seq, data = await asyncio.wait_for(listener.get(), timeout=1.0)
                except TimeoutError:
                    continue
                if seq > after:
                    after = seq
                    yield seq, data
        finally:
            self._listeners[key].remove(listener)

    def publish(self, key: str, item: tuple[int, str] | None) -> None:
        """Hand ``item`` (``(seq, data)``) to the stream's listeners; ``None`` wakes them to notice it finished."""
        for listener in self._listeners.get(key, []):
            listener.put_nowait(item if item is not None else (0, ""))


__all__ = ["EventStreams"]
