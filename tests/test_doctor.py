"""`mora doctor`: every embedded part checked for real, each in a child process, one line per part.

The whole doctor runs once, as the installed command (the embedded LLM, MiniLM, the tiny pipelines, ffmpeg: about
40 s on two cores). Failures are made real: a cache "folder" that is a file, a child that really segfaults, one
that really hangs. The child-process runner is tested on its own with tiny commands, since no part of this
install crashes here.
"""

import json
import os
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

import pytest

from mora_agents.doctor import CHECKS, format_result, run_in_child, select_checks

MORA = Path(sysconfig.get_path("scripts")) / "mora"
"""The console script ``pip install`` made for this interpreter (``[project.scripts]``)."""
FIX = "reinstall the thing that crashed"
HANG_TIMEOUT_S = 5
HANG_GUARD_S = 600
"""How long the test waits for a runner that may never return (a hang guard, far past any busy machine)."""
"""How long the deliberately hung child gets: ample for a shell to start its grandchild, however busy the machine."""


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``mora doctor ARGS`` in a fresh process, as a user runs it."""
    assert MORA.is_file(), f"no {MORA}: `pip install -e .` installs the mora entry point"
    return subprocess.run(
        [str(MORA), "doctor", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def check_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in ("ok", "info", "FAIL")]


@pytest.mark.slow
def test_the_whole_doctor_passes_here_with_one_line_per_check():
    result = doctor()

    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    lines = check_lines(result.stdout)
    expected = select_checks()
    assert [line[6:].split("  ")[0].strip() for line in lines] == [check.label for check in expected]
    by_label = dict(zip([check.name for check in expected], lines, strict=True))
    assert all(not line.startswith("FAIL") for line in lines), result.stdout
    # The parts answered for real: the LLM said something, the director read a request, every role stepped.
    assert by_label["llm"].startswith("ok ") and "answered '" in by_label["llm"]
    assert by_label["director"].startswith("ok ") and "read a request (text_to_video, p " in by_label["director"]
    assert (
        by_label["pipelines"].startswith("ok ") and "A3, A4, A5 loaded and ran one step each" in by_label["pipelines"]
    )
    assert by_label["ffmpeg"].startswith("ok ") and "8 H.264 frames of 64x64" in by_label["ffmpeg"]
    assert by_label["cache"].startswith("ok ") and os.environ["MORA_CACHE_DIR"] in by_label["cache"]
    # Facts, not verdicts: no GPU here is fine, and real profiles lack their weights on this machine.
    assert by_label["accelerator"].startswith("info ")
    assert by_label["profiles"].startswith("info ") and "tiny" in by_label["profiles"].split(";")[0]
    assert result.stdout.splitlines()[-1].startswith(f"all {len(expected)} checks hold")


def test_a_cache_folder_that_is_a_file_fails_with_its_fix_and_exit_2(tmp_path):
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file where the cache folder should be\n")

    # The pipelines check builds into the same cache, so it fails too, pointing at the cache line.
    result = doctor("--only", "cache", "--only", "pipelines", env={"MORA_CACHE_DIR": str(not_a_folder)})

    assert result.returncode == 2, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    cache, pipelines = check_lines(result.stdout)
    assert cache.startswith("FAIL  cache folder")
    assert f"the cache folder {not_a_folder} (MORA_CACHE_DIR) is a file, not a folder" in cache
    assert cache.endswith(
        "— fix: set MORA_CACHE_DIR to a folder you can write to, e.g. export MORA_CACHE_DIR=$HOME/.cache/mora"
    )
    assert (
        pipelines.startswith("FAIL  tiny pipelines")
        and "fix: if the cache folder line fails, fix that first" in pipelines
    )
    assert result.stdout.splitlines()[-1].startswith("2 of 2 checks failed")
    assert "Traceback" not in result.stdout + result.stderr


def test_json_output_carries_every_selected_check():
    result = doctor("--json", "--only", "cache", "--only", "ffmpeg")

    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] is True
    assert [(check["name"], check["status"]) for check in record["checks"]] == [("cache", "ok"), ("ffmpeg", "ok")]
    assert all(check["fix"] is None and check["seconds"] > 0 for check in record["checks"])


def test_an_unknown_check_is_one_sentence_and_exit_2():
    result = doctor("--only", "gpu")

    assert result.returncode == 2
    assert "error: unknown check 'gpu': choose from " + ", ".join(check.name for check in CHECKS) in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_child_killed_by_a_segfault_is_reported_with_the_fix():
    result = run_in_child(
        [sys.executable, "-c", "import ctypes; ctypes.string_at(0)"],
        name="segfault",
        label="segfault",
        timeout_s=60,
        fix=FIX,
    )

    assert result.status == "FAIL"
    # faulthandler's stack (PYTHONFAULTHANDLER, set by the runner) names the frame that died.
    assert result.detail == "crashed (SIGSEGV) at __init__.string_at"
    assert result.fix == FIX
    assert format_result(result).endswith(f"crashed (SIGSEGV) at __init__.string_at — fix: {FIX}")


def test_a_hung_child_is_killed_after_its_timeout_with_what_it_started(tmp_path):
    # The child starts a grandchild (as imageio starts ffmpeg) and hangs; both must go. A shell, not Python: it has
    # written the grandchild's pid within milliseconds, so the timeout races nothing however busy the machine is
    # (a Python child took seconds to start under load, longer than a tight timeout).
    pid_file = tmp_path / "grandchild.pid"
    # The grandchild keeps the child's stdout open and never ends on its own: a runner that killed the child alone
    # would wait for it forever. The thread's join is a hang guard, not a timing: the runner returns, or it hangs.
    script = f"sleep 100000 & echo $! > {pid_file}; wait"
    results = []

    def run() -> None:
        command = ["/bin/sh", "-c", script]
        results.append(run_in_child(command, name="hang", label="hang", timeout_s=HANG_TIMEOUT_S, fix=FIX))

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=HANG_GUARD_S)
    assert not runner.is_alive(), "the runner did not return: it waited for the hung check's grandchild"
    (result,) = results
    assert (result.status, result.detail, result.fix) == ("FAIL", f"did not finish in {HANG_TIMEOUT_S:g} s and was "
                                                          "killed", FIX)  # fmt: skip
    assert pid_file.is_file(), f"the child did not start its grandchild within {HANG_TIMEOUT_S} s"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild), "the hung check's grandchild survived the timeout"


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_a_child_that_exits_without_a_report_fails_with_its_last_words():
    result = run_in_child(
        [sys.executable, "-c", "import sys; sys.exit('cannot open the model file')"],
        name="quiet",
        label="quiet",
        timeout_s=60,
        fix=FIX,
    )

    assert (result.status, result.fix) == ("FAIL", FIX)
    assert result.detail == "exited with code 1 without a report (cannot open the model file)"


def test_a_check_child_reports_on_stdout_only_and_refuses_an_unknown_name():
    # The report is the child's only stdout line, whatever the libraries print.
    done = subprocess.run([sys.executable, "-m", "mora_agents.doctor", "cache"], capture_output=True, text=True)
    assert done.returncode == 0
    (line,) = done.stdout.splitlines()
    assert json.loads(line)["status"] == "ok"

    wrong = subprocess.run([sys.executable, "-m", "mora_agents.doctor", "gpu"], capture_output=True, text=True)
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert "usage: python -m mora_agents.doctor CHECK" in wrong.stderr


def test_a_missing_test_browser_is_a_fact_with_its_fix_not_a_failure(monkeypatch, tmp_path):
    from mora_agents.doctor import _checks

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(_checks, "BROWSER_PATHS", (str(tmp_path / "chromium"),))

    finding = _checks.check_browser()

    assert finding.status == "info"
    assert "no Chromium for the web studio's tests" in finding.detail and _checks.BROWSER_FIX in finding.detail
