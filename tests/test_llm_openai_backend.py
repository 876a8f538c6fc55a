"""The ``openai`` LLM backend against a real OpenAI-compatible server: llama-cpp-python's own server
(``python -m llama_cpp.server``, the ``llama-cpp-python[server]`` extra) serving the embedded SmolLM2 GGUF.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken

from mora_agents.agents import PromptEnhancerAgent
from mora_agents.agents._faithfulness import lost_words
from mora_agents.agents._prompt_enhancer import MAX_WORDS, check_prompt
from mora_agents.errors import MoraError
from mora_agents.llm import create_llm, embedded_model_path
from mora_agents.messages import EnhancedPrompt, PromptEnhancementRequest

SERVED_MODEL = "smollm2"
"""The ``--model_alias`` the server is started with: the name ``GET /v1/models`` lists and requests must use."""
READY_TIMEOUT = 60.0
ENHANCED_REQUEST = "a hummingbird hovering over red flowers"
"""A request the served SmolLM2 enhances (its answer through the server differs from the embedded backend's: no
repeat penalty there); on "a red car in the rain" it drops the rain and A1 falls back."""
ENV_VARS = (
    "MORA_LLM_BACKEND",
    "MORA_LLM_BASE_URL",
    "MORA_LLM_MODEL",
    "MORA_LLM_API_KEY",
    "MORA_LLM_STRUCTURED",
    "OPENAI_API_KEY",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def clean_llm_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LLM configuration leaks in from the developer's shell."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A llama-cpp-python OpenAI-compatible server on a free loopback port; yields its base URL (no ``/v1``)."""
    # The dev extra installs llama-cpp-python[server]; without it the server's log below says what is missing.
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_model_path()),
        "--model_alias",
        SERVED_MODEL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--verbose",
        "False",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        _wait_until_ready(process, url, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_ready(process: subprocess.Popen, url: str, log_path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the llama.cpp server exited with code {process.returncode}:\n{_tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"the llama.cpp server at {url} was not ready after {READY_TIMEOUT:.0f} s:\n{_tail(log_path)}")


def _tail(log_path, lines: int = 40) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no server log: {error})"


def _enhance(backend, prompt: str = "a red car in the rain") -> EnhancedPrompt:
    agent = PromptEnhancerAgent(
        "prompt_enhancer", backend.client, model_name=backend.name, create_args=backend.create_args
    )
    content = PromptEnhancementRequest(prompt=prompt)
    request = StructuredMessage[PromptEnhancementRequest](content=content, source="user")

    async def run() -> EnhancedPrompt:
        try:
            response = await agent.on_messages([request], CancellationToken())
        finally:
            await backend.client.close()
        return response.chat_message.content

    return asyncio.run(run())


@pytest.mark.slow
def test_openai_backend_enhances_a_prompt_through_a_real_server(llama_server, monkeypatch):
    monkeypatch.setenv("MORA_LLM_BASE_URL", f"{llama_server}/v1")
    monkeypatch.setenv("MORA_LLM_MODEL", SERVED_MODEL)

    backend = create_llm("openai")
    assert backend.name.startswith("openai:")
    assert backend.name == f"openai:{SERVED_MODEL}@{llama_server}/v1"
    assert backend.client.total_usage().prompt_tokens == 0

    enhanced = _enhance(backend, ENHANCED_REQUEST)

    # The server's SmolLM2 decodes greedily (temperature 0): on this request its answer is a longer prompt that
    # keeps every word asked for, and A1 uses it.
    assert isinstance(enhanced, EnhancedPrompt)
    assert enhanced.model == backend.name and enhanced.original == ENHANCED_REQUEST
    assert (enhanced.source, enhanced.warning) == ("llm", None), enhanced
    assert check_prompt(enhanced.prompt) is None
    assert lost_words(ENHANCED_REQUEST, enhanced.prompt) == [], enhanced.prompt
    assert len(ENHANCED_REQUEST.split()) + 4 <= len(enhanced.prompt.split()) <= MAX_WORDS, enhanced.prompt
    # The server really answered: the client counted the tokens it reported.
    usage = backend.client.total_usage()
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 0


def test_openai_backend_with_the_server_down_raises_mora_error(monkeypatch):
    monkeypatch.setenv("MORA_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
    monkeypatch.setenv("MORA_LLM_MODEL", SERVED_MODEL)
    backend = create_llm("openai")

    with pytest.raises(MoraError, match="LLM") as raised:
        _enhance(backend)

    assert backend.name in str(raised.value)
    assert "connection" in str(raised.value).lower()


@pytest.fixture
def hanging_up_server() -> Iterator[tuple[str, list[int]]]:
    """A loopback port that accepts each connection and closes it at once; yields its URL and the connection count."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(1)
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1", accepted
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_server_that_hangs_up_is_tried_at_most_twice(hanging_up_server, monkeypatch):
    # The openai client retries connection errors twice with back-off by default; the backend allows one retry, so
    # a broken server costs two attempts, not three (and never the client's 10-minute default timeout each).
    url, accepted = hanging_up_server
    monkeypatch.setenv("MORA_LLM_BASE_URL", url)
    monkeypatch.setenv("MORA_LLM_MODEL", SERVED_MODEL)
    backend = create_llm("openai")

    with pytest.raises(MoraError, match="(?i)connection error"):
        _enhance(backend)

    assert 1 <= len(accepted) <= 2, f"{len(accepted)} connection attempts"


@pytest.mark.parametrize("base_url", [None, "http://127.0.0.1:9/v1"], ids=["no-base-url", "base-url"])
def test_openai_backend_without_a_model_name_raises_mora_error(monkeypatch, base_url):
    if base_url:
        monkeypatch.setenv("MORA_LLM_BASE_URL", base_url)
    with pytest.raises(MoraError, match="MORA_LLM_MODEL"):
        create_llm("openai")
