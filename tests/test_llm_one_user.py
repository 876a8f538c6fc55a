"""The embedded LLM has one user at a time (issue 24): a cancelled completion finishes before the next one starts.

On the real SmolLM2 through autogen-ext's client: completions asked at once from several threads (what a server's
jobs and director do) and completions whose callers were cancelled mid-call, then one more. Without the lock,
llama.cpp aborted (SIGABRT in its grammar sampler) or answered differently when two calls shared the model.
"""

from __future__ import annotations

import asyncio
import threading
import time

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


def test_a_completion_cancelled_mid_call_finishes_before_the_next_one_uses_the_model(backend):
    started = time.perf_counter()
    alone = _ask(backend)
    took = time.perf_counter() - started
    for delay in (0.0, 0.2 * took, 0.6 * took):  # before it starts, early in it, late in it
        token = CancellationToken()
        threading.Timer(delay, token.cancel).start()
        started = time.perf_counter()
        with pytest.raises(asyncio.CancelledError):
            _ask(backend, token)
        # The caller is let go at once; the native call runs on and the next one waits for it.
        assert _ask(backend) == alone, f"cancelled after {delay} s ({time.perf_counter() - started:.2f} s)"
