import numpy as np
import pytest
from PIL import Image

from mora_agents.errors import MoraError
from mora_agents.media import VideoFileWriter, load_image, save_png, video_info
from mora_agents.messages import VideoRequest
from mora_agents.workspace import RunManifest, Workspace, sha256_file, write_text_atomic


def frame(value: int, size=(32, 48)) -> np.ndarray:
    return np.full((size[1], size[0], 3), value, dtype=np.uint8)


def test_video_appears_only_when_complete(tmp_path):
    path = tmp_path / "v.mp4"
    with VideoFileWriter(path, fps=8) as writer:
        for value in range(0, 240, 10):
            writer.append(frame(value))
            assert not path.exists(), "a reader never sees a half-written video"
    info = video_info(path)
    assert info["num_frames"] == 24 and info["size"] == (32, 48) and info["fps"] == 8


def test_failed_video_leaves_nothing(tmp_path):
    path = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError, match="stage died"):
        with VideoFileWriter(path, fps=8) as writer:
            writer.append(frame(0))
            raise RuntimeError("stage died")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("frames", "message"),
    [([frame(0, (33, 48))], "even frame sizes"), ([frame(0), frame(0, (64, 48))], "expected 32x48")],
)
def test_video_writer_rejects_bad_frames(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        with VideoFileWriter(tmp_path / "v.mp4", fps=8) as writer:
            for item in frames:
                writer.append(item)
    assert not (tmp_path / "v.mp4").exists()


def test_corrupt_or_missing_media_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(MoraError, match="bad.mp4 is not a readable video"):
        video_info(bad)
    with pytest.raises(MoraError, match="video file not found"):
        video_info(tmp_path / "none.mp4")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(MoraError, match="bad.png is not a readable image"):
        load_image(tmp_path / "bad.png")


def test_png_round_trip_and_sha(tmp_path):
    image = Image.fromarray(frame(77))
    save_png(image, tmp_path / "a.png")
    save_png(image, tmp_path / "b.png")
    assert sha256_file(tmp_path / "a.png") == sha256_file(tmp_path / "b.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "a.png")), frame(77))


def test_manifest_round_trip_and_atomic_rewrite(tmp_path):
    workspace = Workspace.create(tmp_path, "run-1")
    manifest = RunManifest(
        run_id="run-1", mora_version="0", created="now", sop="text_to_video", profile="tiny", llm="x",
        review="auto", request=VideoRequest(inputs={"prompt": "a cat", "duration": 2.0}),
    )  # fmt: skip
    workspace.save_manifest(manifest)
    manifest.warnings.append("w")
    workspace.save_manifest(manifest)
    assert workspace.load_manifest() == manifest
    assert sorted(p.name for p in workspace.root.iterdir()) == ["manifest.json"]
    write_text_atomic(workspace.path("manifest.json"), "{ broken")
    with pytest.raises(MoraError, match="is not a valid manifest"):
        workspace.load_manifest()


def test_workspace_names_and_publishing(tmp_path):
    workspace = Workspace.create(tmp_path, "run")
    (workspace.root / "stages").mkdir()
    first = workspace.unique_name("stages/ff", ".png")
    workspace.path(first).write_bytes(b"1")
    second = workspace.unique_name("stages/ff", ".png")
    assert (first, second) == ("stages/ff.png", "stages/ff_2.png")
    assert workspace.publish(first, "ff.png") == "ff.png"
    assert workspace.path("ff.png").read_bytes() == b"1"
    with pytest.raises(MoraError, match="cannot create the run folder"):
        Workspace.create(tmp_path, "run")
