"""The embedded LLM has one user at a time (issue 24): a cancelled completion finishes before the next one starts.

On the real SmolLM2 through autogen-ext's client: completions asked at once from several threads (what a server's
jobs and director do) and completions whose callers were cancelled mid-call, then one more. Without the lock,
llama.cpp aborted (SIGABRT in its grammar sampler) or answered differently when two calls shared the model.
"""

from __future__ import annotations

import asyncio
import threading

import pytest
from autogen_core import CancellationToken
from autogen_core.models import SystemMessage, UserMessage

from mora_agents.llm import ExclusiveLlama, create_llm

MESSAGES = [SystemMessage(content="Answer in one short sentence."), UserMessage(content="Describe a kite.", source="u")]


@pytest.fixture(scope="module")
def backend():
    return create_llm("embedded")


def _ask(backend, token: CancellationToken | None = None) -> str:
    async def call() -> str:
        result = await backend.client.create(MESSAGES, extra_create_args=backend.create_args, cancellation_token=token)
        return result.content

    return asyncio.run(call())


def test_the_loaded_model_is_wrapped_so_calls_take_turns(backend):
    assert isinstance(backend.client.llm, ExclusiveLlama)


def test_calls_from_several_threads_at_once_take_turns_and_give_the_sequential_answer(backend):
    alone = _ask(backend)
    assert alone.strip()  # the model answered
    answers: list[str] = []
    inside, most_inside = 0, 0
    lock = threading.Lock()
    model = backend.client.llm._llm
    original = model.create_chat_completion

    def counted(*args, **kwargs):  # how many native calls run at once on the one model
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                inside -= 1

    model.create_chat_completion = counted
    try:
        threads = [threading.Thread(target=lambda: answers.append(_ask(backend))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        del model.create_chat_completion
    assert most_inside == 1
    assert answers == [alone] * 4  # each from an empty context: the same greedy answer


def _cancel_then_ask(backend, when: str) -> tuple[bool, str]:
    """Cancel a completion ``before`` its native call, as it ``starts`` or as it ``ends``, then at once ask again on
    the same loop (as a server does: ``asyncio.run`` would wait for the cancelled call's thread and hide an overlap).

    Returns whether the caller got CancelledError while the native call was still held (let go at once, not when it
    ended) and the next answer. The cancel is scheduled on the caller's loop from inside the native call, not by a
    timer, so each moment is hit every time (a timer at 60 % of a first, slower call once fired after a later call had
    already answered)."""
    model = backend.client.llm._llm
    original = model.create_chat_completion
    caller_let_go = threading.Event()

    async def call() -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        token = CancellationToken()

        def native(*args, **kwargs):
            model.create_chat_completion = original  # only the cancelled call is hooked
            if when == "starts":
                loop.call_soon_threadsafe(token.cancel)
                caller_let_go.wait(timeout=60)  # runs on only once the caller has been let go
            result = original(*args, **kwargs)
            if when == "ends":
                loop.call_soon_threadsafe(token.cancel)  # queued before the result, so it wins
            return result

        model.create_chat_completion = native
        if when == "before":
            token.cancel()
        with pytest.raises(asyncio.CancelledError):
            await backend.client.create(MESSAGES, extra_create_args=backend.create_args, cancellation_token=token)
        held = when == "starts" and not caller_let_go.is_set()
        caller_let_go.set()
        answer = await backend.client.create(MESSAGES, extra_create_args=backend.create_args)
        return held, answer.content

    try:
        return asyncio.run(call())
    finally:
        caller_let_go.set()
        model.__dict__.pop("create_chat_completion", None)


@pytest.mark.parametrize("when", ["before", "starts", "ends"])
def test_a_completion_cancelled_mid_call_finishes_before_the_next_one_uses_the_model(backend, when):
    alone = _ask(backend)
    held, answer = _cancel_then_ask(backend, when)
    if when == "starts":
        assert held, "the caller waited for the native call instead of being let go at once"
    # The cancelled native call runs on to its end; the next one waits for it and answers as if alone.
    assert answer == alone, f"cancelled {when}"
