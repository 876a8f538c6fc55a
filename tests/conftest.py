"""Test set-up: no network but loopback, no Hugging Face downloads, one shared tiny-model cache."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

# Set before anything imports huggingface_hub, which reads it once.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under `pytest -n N` the workers share the cores: each gets its share of torch threads (before torch is imported,
# so children and Ray actors inherit the same count and cross-process sha comparisons hold). Spinning OpenMP threads
# beyond the cores slow every step many times over.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(_share))

_real_connect = socket.socket.connect


def _loopback_only(self, address):
    # Tests may talk to servers they start on this machine, never to anything else.
    host = address[0] if isinstance(address, tuple) else None
    if host is not None:
        try:
            if not ipaddress.ip_address(host).is_loopback:
                raise OSError(f"tests may not connect to {host}: the network is blocked in tests")
        except ValueError:
            if host != "localhost":
                raise OSError(f"tests may not connect to {host}: the network is blocked in tests") from None
    return _real_connect(self, address)


socket.socket.connect = _loopback_only


@pytest.fixture(scope="session", autouse=True)
def mora_cache(tmp_path_factory) -> Path:
    """One tiny-model cache for the whole session (built once, about 10 s), shared with subprocesses."""
    cache = Path(os.environ.get("MORA_TEST_CACHE_DIR") or tmp_path_factory.mktemp("mora-cache"))
    os.environ["MORA_CACHE_DIR"] = str(cache)
    return cache


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module: the tiny models' tensors are too small to gain from intra-op threads, and
    on a shared CPU spinning threads slow every step tenfold."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_profile():
    from mora_tools.loading.profiles import load_profile

    return load_profile("tiny")


@pytest.fixture(scope="session")
def text_to_image_tool(tiny_profile):
    from mora_tools.pipelines.text_to_image import TextToImageTool

    return TextToImageTool.from_profile(tiny_profile, device="cpu")


@pytest.fixture(scope="session")
def image_to_video_tool(tiny_profile):
    from mora_tools.pipelines.image_to_video import ImageToVideoTool

    return ImageToVideoTool.from_profile(tiny_profile, device="cpu")


class RecordingSink:
    """A progress sink that records every event, to check what tools report."""

    def __init__(self):
        self.events = []

    def start(self, stage, total, description=""):
        self.events.append(("start", stage, total))

    def advance(self, stage, steps=1):
        self.events.append(("advance", stage, steps))

    def finish(self, stage):
        self.events.append(("finish", stage))


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()
