"""A full disk, on a real one: a small tmpfs mounted for each test (root only; skipped where mounting is refused).

Nothing is mocked: the kernel answers ``ENOSPC``. What must hold: one sentence naming the folder and the command
that continues, exit 2 and no traceback; the manifest says ``failed`` where the disk allows it, and is never half
written; no ``*.partial`` or half-written file is left; once space is freed, ``--resume`` finishes the work.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mora_agents.errors import DiskFullError
from mora_agents.media import VideoFileWriter, save_png
from mora_agents.messages import VideoRequest
from mora_agents.session import Session
from mora_agents.workspace import RunManifest, Workspace
from tests.cli_in_process import mora_here


class SmallDisk:
    """A tmpfs of a given size at ``folder``, which a test can fill up and grow."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def resize(self, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.folder)], check=True, capture_output=True)

    def fill(self) -> Path:
        """Write a filler file until the kernel says the disk is full: then no byte is free."""
        filler = self.folder / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC, error
        finally:
            os.close(fd)
        return filler


@pytest.fixture
def small_disk(tmp_path):
    """A 40 KiB tmpfs (the size of the issue's report), unmounted after the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(folder)], capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command here: these tests need a real small file system")
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs is refused here ({mounted.stderr.decode().strip()}): run as root")
    yield SmallDisk(folder)
    subprocess.run(["umount", "--lazy", str(folder)], check=True)


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if ".partial" in path.name]


def the_sentence(stderr: str) -> str:
    """The one error line, which must end the output (progress lines come before it)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    return errors[0]


@pytest.mark.slow
def test_generate_on_a_full_disk_fails_in_one_sentence_and_resumes(small_disk, capfd):
    # 1. The command: the video does not fit in 40 KiB. (In this process, for time: an exception would fail
    # the test with its traceback; capfd also sees what a child such as ffmpeg prints.)
    result = mora_here("generate", "text-to-video", "--prompt", "a kite", "--duration", "1", "--profile", "tiny",
                       "--review", "auto", "--out", str(small_disk.folder))  # fmt: skip
    (run_dir,) = small_disk.folder.iterdir()
    assert result.returncode == 2, result.stderr
    assert the_sentence(result.stderr) == (
        f"error: no space left on the disk of {run_dir}: free some space, then run "
        f"`mora generate --resume {run_dir}` to continue"
    )
    printed = capfd.readouterr()
    assert "No space left on device" not in printed.out + printed.err, "ffmpeg's own messages are not printed"
    # 2. The run says it failed, and why; nothing half written is left.
    manifest = RunManifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.status == "failed" and DiskFullError.is_reason(manifest.error), manifest.error
    assert [stage.status for stage in manifest.stages][-1] == "failed"
    assert partials(small_disk.folder) == []
    assert not (run_dir / "stages" / "animate.mp4").exists()
    # 3. Space freed, --resume keeps the finished stages and completes the run.
    small_disk.resize("16m")
    resumed = mora_here("generate", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    manifest = RunManifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.status == "completed" and manifest.error is None
    assert (run_dir / "video.mp4").is_file() and partials(small_disk.folder) == []
    assert "kept from the interrupted run" in resumed.stderr


@pytest.mark.slow
def test_a_session_script_on_a_full_disk_fails_in_one_sentence_and_resumes(small_disk, tmp_path):
    script = tmp_path / "kite.yaml"
    script.write_text("name: kite\nreview: auto\nturns:\n  - say: a kite over a beach, 1 second\n")
    folder = small_disk.folder / "session"
    result = mora_here("run", str(script), "--out", str(folder))
    assert result.returncode == 2, result.stderr
    assert the_sentence(result.stderr).startswith(f"error: no space left on the disk of {folder}: ")
    assert the_sentence(result.stderr).endswith(f"then run `mora run --resume {folder}` to continue")
    (turn,) = Session.open(folder).record.turns
    assert turn.status == "failed" and DiskFullError.is_reason(turn.error)
    assert partials(small_disk.folder) == []
    Session.open(folder).transcript()  # every line whole
    small_disk.resize("16m")
    resumed = mora_here("run", "--resume", str(folder))
    assert resumed.returncode == 0, resumed.stderr
    (turn,) = Session.open(folder).record.turns
    assert turn.status == "completed"
    assert partials(small_disk.folder) == []


@pytest.mark.slow
def test_a_chat_turn_stopped_by_a_full_disk_is_finished_by_chat_resume(small_disk):
    folder = small_disk.folder / "chat"
    said = mora_here("chat", "--session", str(folder), "--review", "auto", stdin="a kite over a beach, 1 second\n")
    assert "no space left on the disk of" in said.stderr + said.stdout
    (turn,) = Session.open(folder).record.turns
    assert turn.status == "failed" and DiskFullError.is_reason(turn.error)
    small_disk.resize("16m")
    resumed = mora_here("chat", "--resume", str(folder), "--review", "auto", stdin="")
    assert "finishing turn 1, interrupted last time" in resumed.stdout + resumed.stderr
    (turn,) = Session.open(folder).record.turns
    assert turn.status == "completed", turn.error
    assert partials(small_disk.folder) == []


def a_manifest(workspace: Workspace) -> RunManifest:
    request = VideoRequest(task="text_to_video", inputs={"prompt": "a kite"}, seed=0)
    return RunManifest(run_id=workspace.root.name, mora_version="0", created="now", sop="text_to_video",
                       profile="tiny", llm="none", review="auto", request=request)  # fmt: skip


def test_at_zero_bytes_free_the_manifest_is_marked_failed_in_place_or_left_whole(small_disk):
    workspace = Workspace.create(small_disk.folder, "run")
    manifest = a_manifest(workspace)
    workspace.save_manifest(manifest)
    filler = small_disk.fill()
    # No new file fits, so not the atomic write: the failed manifest goes over the old one's bytes, compact.
    manifest.status, manifest.error = "failed", "no space left on the disk of run: free some space, then try again"
    with pytest.raises(DiskFullError, match=f"no space left on the disk of {workspace.root}: free some space"):
        workspace.save_manifest(manifest)
    assert workspace.load_manifest() == manifest
    assert partials(small_disk.folder) == []
    # A manifest that cannot fit there is not written at all: the one on disk stays whole.
    longer = manifest.model_copy(update={"warnings": ["x" * 10_000]})
    with pytest.raises(DiskFullError):
        workspace.save_manifest(longer)
    assert workspace.load_manifest() == manifest
    assert partials(small_disk.folder) == []
    # Space freed: written as always, indented.
    filler.unlink()
    workspace.save_manifest(longer)
    assert workspace.load_manifest() == longer
    assert (workspace.root / "manifest.json").read_text().startswith("{\n  ")


def test_media_writers_leave_nothing_half_written_on_a_full_disk(small_disk):
    rng = np.random.default_rng(0)
    video = small_disk.folder / "clip.mp4"
    with pytest.raises(DiskFullError, match=f"no space left on the disk of {small_disk.folder}"):
        with VideoFileWriter(video, fps=8) as writer:
            for _ in range(16):  # noise: nothing to compress
                writer.append(rng.integers(0, 255, (128, 128, 3), dtype=np.uint8))
    assert not video.exists() and partials(small_disk.folder) == []
    small_disk.fill()
    with pytest.raises(DiskFullError):
        save_png(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), small_disk.folder / "frame.png")
    assert list(small_disk.folder.iterdir()) == [small_disk.folder / "filler"]


def test_the_transcript_keeps_whole_lines_when_the_disk_fills(small_disk):
    session = Session.create(small_disk.folder / "s", "s")
    session.log("user", turn=1, text="a kite")
    small_disk.fill()
    with pytest.raises(DiskFullError):
        session.log("user", turn=2, text="x" * 20_000)
    assert [event["turn"] for event in session.transcript()] == [1]
    assert json.loads((session.root / "session.json").read_text())["name"] == "s"


def test_a_crash_on_a_full_disk_still_marks_the_run_failed_where_it_fits(small_disk):
    from mora_agents.supervisor import mark_run_failed

    workspace = Workspace.create(small_disk.folder, "run")
    workspace.save_manifest(a_manifest(workspace))
    small_disk.fill()
    # A reason too long for the old manifest's bytes: it stays whole, and the full disk is said.
    with pytest.raises(DiskFullError):
        mark_run_failed(workspace.root, "x" * 10_000)
    assert workspace.load_manifest().status == "running"
    with pytest.raises(DiskFullError):
        mark_run_failed(workspace.root, "the embedded LLM (llama.cpp) crashed the process (SIGSEGV)")
    manifest = workspace.load_manifest()
    assert manifest.status == "failed" and manifest.error.startswith("the embedded LLM")
    assert partials(small_disk.folder) == []
