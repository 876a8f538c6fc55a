"""A native crash never goes silent: the supervised child dies, the parent names the part and fails the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mora_agents import crash_report
from mora_agents.supervisor import run_supervised, wants_supervision

# A real segfault inside llama.cpp's native code, reached through llama-cpp-python's own Python wrapper (so the
# innermost Python frame is llama_cpp's, as in a crash in Llama.decode): a model handle that points nowhere.
LLAMA_CRASH = """
import ctypes
from llama_cpp._internals import LlamaModel
model = LlamaModel.__new__(LlamaModel)
model.model = ctypes.c_void_p(16)
model.n_embd()
"""


def child(script: str) -> list[str]:
    """A Python child that enables the crash report first, as ``mora``'s entry point does."""
    prelude = "from mora_agents import crash_report\ncrash_report.enable()\n"
    return [sys.executable, "-c", prelude + textwrap.dedent(script)]


def test_a_segfault_in_llama_cpp_is_named_with_the_fix():
    result = run_supervised(child(LLAMA_CRASH))
    assert result.exit_code == 128 + signal.SIGSEGV
    assert result.crash is not None and result.crash.signal_name == "SIGSEGV"
    assert result.crash.part.part == "the embedded LLM (llama.cpp)"
    assert result.crash.part.where is not None and result.crash.part.where.startswith("_internals.")
    assert "mora doctor" in result.crash.sentence


def test_an_unfinished_run_is_marked_failed_and_a_finished_one_is_left_alone(tmp_path):
    script = f"""
    from mora_agents.messages import VideoRequest
    from mora_agents.workspace import RunManifest, StageRecord, Workspace
    for run_id, status in (("done", "completed"), ("busy", "running")):
        workspace = Workspace.create({str(tmp_path)!r}, run_id)
        manifest = RunManifest(run_id=run_id, mora_version="0", created="now", sop="text_to_video", profile="tiny",
                               llm="x", review="auto", request=VideoRequest(task="text_to_video"), status=status,
                               stages=[StageRecord(id="enhance", agent="a1_prompt")])
        workspace.save_manifest(manifest)
    """
    result = run_supervised(child(textwrap.dedent(script) + LLAMA_CRASH))
    assert result.crash is not None
    assert result.crash.runs_failed == [(tmp_path / "busy").resolve()]
    busy = json.loads((tmp_path / "busy" / "manifest.json").read_text())
    assert busy["status"] == "failed" and busy["error"] == result.crash.sentence
    assert busy["stages"][0]["status"] == "failed"
    assert json.loads((tmp_path / "done" / "manifest.json").read_text())["status"] == "completed"


def test_a_clean_exit_passes_through():
    assert run_supervised(child("raise SystemExit(2)")).exit_code == 2
    ok = run_supervised(child("pass"))
    assert ok.exit_code == 0 and ok.crash is None


def test_part_that_died_prefers_the_model_library_over_torch_and_reads_the_crashing_thread():
    dump = textwrap.dedent(
        """\
        Fatal Python error: Segmentation fault

        Thread 0x00007f01 (most recent call first):
          File "/venv/lib/python3.11/site-packages/llama_cpp/llama.py", line 10 in decode

        Current thread 0x00007f02 (most recent call first):
          File "/venv/lib/python3.11/site-packages/torch/nn/modules/conv.py", line 549 in _conv_forward
          File "/venv/lib/python3.11/site-packages/diffusers/models/unets/unet.py", line 12 in forward
          File "/work/main/mora_tools/pipelines/image_to_video.py", line 120 in __call__
        """
    )
    dead = crash_report.part_that_died(dump)
    assert dead.part == "a diffusers pipeline" and dead.where == "conv._conv_forward"
    assert crash_report.part_that_died("").part == "an unknown part"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["generate", "text-to-video", "-p", "x"], {}, True),
        (["--help"], {}, False),
        (["sop", "list"], {}, False),
        (["chat"], {"MORA_SUPERVISE": "0"}, False),
        (["run", "s.yaml"], {crash_report.CRASH_DIR_ENV: "/tmp/x"}, False),  # already the child
    ],
)
def test_which_commands_are_supervised(monkeypatch, argv, env, expected):
    for name in ("MORA_SUPERVISE", crash_report.CRASH_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert wants_supervision(argv) is expected


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the child through Linux's /proc")
def test_mora_generate_killed_by_a_segfault_says_so_and_its_run_says_failed(tmp_path):
    """The real entry point: the child doing the run gets SIGSEGV mid-run (as from a crash in native code)."""
    out = tmp_path / "runs"
    command = [sys.executable, "-m", "mora_agents.cli", "generate", "text-to-video", "--prompt", "a red fox in snow",
               "--duration", "4", "--profile", "tiny", "--review", "auto", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "MORA_SUPERVISE": "1"}
    env.pop(crash_report.CRASH_DIR_ENV, None)
    parent = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/manifest.json")) and parent.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    children = _children(parent.pid)
    assert children, "the run finished or failed before it could be interrupted"
    os.kill(children[0], signal.SIGSEGV)
    _, stderr = parent.communicate(timeout=120)
    assert parent.returncode == 128 + signal.SIGSEGV
    (sentence,) = [line for line in stderr.splitlines() if "crashed the process" in line]
    assert sentence.startswith("error: ") and "(SIGSEGV" in sentence and "mora doctor" in sentence
    assert "Traceback" not in stderr
    (manifest_path,) = out.glob("*/manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "failed" and "crashed the process (SIGSEGV" in manifest["error"]
