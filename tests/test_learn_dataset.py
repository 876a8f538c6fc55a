"""The training data folder: rows validated against the schema and the media they name, one sentence per problem.

The folders here are written by hand (small MP4s and PNGs), so every broken case is cheap; the folder synthesis
makes is loaded in ``test_learn_synthesize.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mora_agents.errors import MoraError
from mora_agents.learning import TrainingSample, load_training_data, write_metadata
from mora_agents.media import VideoFileWriter
from mora_agents.messages import JudgeVerdict

FPS = 8
FRAMES = 4


def _media(root: Path, set_id: str, size: tuple[int, int], frame_size: tuple[int, int] | None = None) -> None:
    folder = root / "samples" / set_id
    folder.mkdir(parents=True, exist_ok=True)
    width, height = size
    with VideoFileWriter(folder / "video.mp4", fps=FPS) as writer:
        for index in range(FRAMES):
            writer.append(np.full((height, width, 3), 40 * index, dtype=np.uint8))
    Image.new("RGB", frame_size or size, (10, 20, 30)).save(folder / "first_frame.png")


def _row(set_id: str, size: tuple[int, int] = (64, 64)) -> TrainingSample:
    return TrainingSample(
        file_name=f"samples/{set_id}/video.mp4",
        first_frame=f"samples/{set_id}/first_frame.png",
        prompt=f"A red kite over a green hill ({set_id})",
        seed_prompt="a red kite over a green hill",
        set_id=set_id,
        sop="text_to_video",
        profile="tiny",
        seed=3,
        width=size[0],
        height=size[1],
        fps=FPS,
        num_frames=FRAMES,
        criterion="Temporal coherence: the best frame-to-frame continuity.",
        votes=[JudgeVerdict(judge="metric", ranking=[1, 0], top=1), JudgeVerdict(judge="m2", abstained=True)],
        decided_by="judges",
        chosen=1,
        candidates=2,
        iteration=1,
    )


@pytest.fixture(scope="module")
def good_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three valid rows at 64x64, plus a 64x32 sample that no row names yet."""
    root = tmp_path_factory.mktemp("data")
    for set_id in ("p001-v1", "p002-v1", "p003-v1"):
        _media(root, set_id, (64, 64))
    _media(root, "p004-v1", (64, 32))
    write_metadata(root, [_row("p001-v1"), _row("p002-v1"), _row("p003-v1")])
    return root


@pytest.fixture
def data(good_data: Path, tmp_path: Path) -> Path:
    """A copy of the good folder to break."""
    root = tmp_path / "DATA"
    shutil.copytree(good_data, root)
    return root


def _lines(root: Path) -> list[str]:
    return (root / "metadata.jsonl").read_text().splitlines()


def _write_lines(root: Path, lines: list[str]) -> None:
    (root / "metadata.jsonl").write_text("".join(line + "\n" for line in lines))


def _error(root: Path, **kwargs) -> str:
    with pytest.raises(MoraError) as caught:
        load_training_data(root, **kwargs)
    message = str(caught.value)
    assert "\n" not in message, "one sentence, one line"
    return message


def test_valid_data_loads_in_file_order(good_data: Path) -> None:
    samples = load_training_data(good_data)
    assert [sample.set_id for sample in samples] == ["p001-v1", "p002-v1", "p003-v1"]
    first = samples[0]
    assert (first.width, first.height, first.fps, first.num_frames) == (64, 64, 8.0, 4)
    assert first.votes[1].abstained and first.decided_by == "judges"
    assert load_training_data(good_data, size=(64, 64)) == samples


def test_metadata_is_rewritten_only_when_it_changes(good_data: Path, tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    assert write_metadata(root, [_row("p001-v1")])
    assert not write_metadata(root, [_row("p001-v1")])
    assert json.loads(_lines(root)[0])["first_frame"] == "samples/p001-v1/first_frame.png"


def test_hugging_face_datasets_loads_the_folder(good_data: Path, tmp_path: Path) -> None:
    import datasets

    loaded = datasets.load_dataset("videofolder", data_dir=str(good_data), cache_dir=str(tmp_path / "hf"))["train"]
    assert loaded.num_rows == 3
    assert loaded["prompt"][2] == "A red kite over a green hill (p003-v1)"
    assert loaded["first_frame"][0] == "samples/p001-v1/first_frame.png"


def test_missing_folder_metadata_and_empty_data(tmp_path: Path) -> None:
    assert "does not exist" in _error(tmp_path / "nowhere")
    assert "has no metadata.jsonl" in _error(tmp_path)
    (tmp_path / "metadata.jsonl").write_text("\n")
    assert "has no samples" in _error(tmp_path)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", "metadata.jsonl line 2 is not JSON"),
        ("[1, 2]", "metadata.jsonl line 2 is not a JSON object"),
    ],
)
def test_malformed_line_names_the_line(data: Path, line: str, expected: str) -> None:
    lines = _lines(data)
    _write_lines(data, [lines[0], line, lines[2]])
    assert expected in _error(data)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"fps": 0}, "line 2 (set p002-v1): field 'fps': Input should be greater than 0"),
        ({"prompt": None}, "line 2 (set p002-v1): field 'prompt': Input should be a valid string"),
        ({"decided_by": "robot"}, "line 2 (set p002-v1): field 'decided_by'"),
        ({"chosen": 5}, "line 2 (set p002-v1): field 'the row': chosen is 5, but the set had 2 candidates"),
        ({"file_name": "../elsewhere.mp4"}, "field 'file_name': must be a path relative to the data folder"),
        ({"votes": [{"judge": "m", "top": 1}]}, "field 'votes.0': top must be the first of the ranking"),
    ],
)
def test_schema_errors_name_line_set_and_field(data: Path, change: dict, expected: str) -> None:
    lines = _lines(data)
    row = {**json.loads(lines[1]), **change}
    _write_lines(data, [lines[0], json.dumps(row), lines[2]])
    assert expected in _error(data)


def test_missing_field_is_named(data: Path) -> None:
    lines = _lines(data)
    row = json.loads(lines[1])
    del row["first_frame"]
    _write_lines(data, [lines[0], json.dumps(row), lines[2]])
    assert "line 2 (set p002-v1): field 'first_frame': Field required" in _error(data)


def test_missing_file_names_row_and_file(data: Path) -> None:
    (data / "samples/p003-v1/video.mp4").unlink()
    message = _error(data)
    assert message.endswith("metadata.jsonl line 3 (set p003-v1): samples/p003-v1/video.mp4 is missing")
    (data / "samples/p002-v1/first_frame.png").unlink()
    assert "line 2 (set p002-v1): samples/p002-v1/first_frame.png is missing" in _error(data)


def test_unreadable_media_names_the_file(data: Path) -> None:
    (data / "samples/p002-v1/video.mp4").write_bytes(b"not a video")
    assert "line 2 (set p002-v1): samples/p002-v1/video.mp4 is not a readable video" in _error(data)
    shutil.copy(data / "samples/p001-v1/video.mp4", data / "samples/p002-v1/video.mp4")
    (data / "samples/p002-v1/first_frame.png").write_bytes(b"garbage")
    assert "line 2 (set p002-v1): samples/p002-v1/first_frame.png is not a readable image" in _error(data)


def test_video_of_the_wrong_size_names_the_row(data: Path) -> None:
    lines = _lines(data)
    _write_lines(data, [*lines, _row("p004-v1", (64, 32)).model_dump_json()])
    message = _error(data)
    assert message.endswith(
        "metadata.jsonl line 4 (set p004-v1): samples/p004-v1/video.mp4 is 64x32, the other samples are 64x64"
    )
    assert "line 1 (set p001-v1): samples/p001-v1/video.mp4 is 64x64, the training size is 32x32" in _error(
        data, size=(32, 32)
    )


def test_row_must_match_its_media(data: Path) -> None:
    lines = _lines(data)
    row = {**json.loads(lines[1]), "width": 32}
    _write_lines(data, [lines[0], json.dumps(row)])
    assert "line 2 (set p002-v1): samples/p002-v1/video.mp4 is 64x64, the row says 32x64" in _error(data)
    row = {**json.loads(lines[1]), "num_frames": 9}
    _write_lines(data, [lines[0], json.dumps(row)])
    assert "line 2 (set p002-v1): samples/p002-v1/video.mp4 has 4 frames, the row says 9" in _error(data)
    Image.new("RGB", (32, 32)).save(data / "samples/p002-v1/first_frame.png")
    _write_lines(data, lines)
    assert "line 2 (set p002-v1): samples/p002-v1/first_frame.png is 32x32, its video is 64x64" in _error(data)


def test_a_set_appears_once(data: Path) -> None:
    lines = _lines(data)
    _write_lines(data, [*lines, lines[0]])
    assert "line 4 (set p001-v1): the set already has a row on line 1" in _error(data)
