"""`mora serve` as a child process for the tests that talk to a live server (the APIs, the web studio)."""

from __future__ import annotations

import hashlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

READY_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`mora serve` in a child process, on its own port and workspace."""

    def __init__(self, workspace: Path, *args: str, host: str = "127.0.0.1") -> None:
        self.workspace, self.args, self.host = workspace, args, host
        self.port = free_port()
        self.url = f"http://{host}:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        command = [sys.executable, "-m", "mora_agents.cli", "serve", "--host", self.host, "--port", str(self.port),
                   "--workspace", str(self.workspace), *self.args]  # fmt: skip
        self.log = open(self.workspace.parent / f"{self.workspace.name}-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"mora serve exited with {self.process.returncode}: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        pytest.fail(f"mora serve was not ready after {READY_SECONDS} s: {self.tail()}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def tail(self) -> str:
        path = Path(self.log.name)
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def serving(tmp_path_factory, name: str, *args: str) -> Iterator[Server]:
    """A module's live server (for a ``scope="module"`` fixture to ``yield from``): `mora serve ARGS` in a fresh
    workspace named ``name``, stopped after the module's tests."""
    running = Server(tmp_path_factory.mktemp(name) / "ws", *args).start()
    try:
        yield running
    finally:
        running.stop()


def wait(fetch, done, seconds: float = 240, every: float = 0.3):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fetch()
        if done(value):
            return value
        time.sleep(every)
    pytest.fail(f"still not done after {seconds} s: {value}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
