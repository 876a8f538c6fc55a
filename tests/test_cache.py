"""write_atomically (mora_agents/atomic_files.py), the one way a file or a folder appears whole; the tiny size
tables' tokenizer ids."""

from __future__ import annotations

import pytest

from mora_agents.atomic_files import write_atomically
from mora_tools.builders.text_tokenizers import build_clip_tokenizer
from mora_tools.builders.tiny_sizes import TINY_CLIP_TEXT


def test_a_folder_appears_complete_and_replaces_an_incomplete_one(tmp_path):
    target = tmp_path / "models" / "one"
    target.mkdir(parents=True)
    (target / "stale").write_text("an interrupted older layout")

    def build(staging):
        staging.mkdir()
        (staging / "model_index.json").write_text("{}")

    assert write_atomically(target, build) == target
    assert sorted(p.name for p in target.iterdir()) == ["model_index.json"]
    assert [p.name for p in target.parent.iterdir()] == ["one"]  # no staging left


def test_a_complete_target_built_meanwhile_is_kept(tmp_path):
    target = tmp_path / "one"

    def build(staging):
        target.mkdir()  # another process finishes first
        (target / "model_index.json").write_text("theirs")
        staging.mkdir()
        (staging / "model_index.json").write_text("ours")

    write_atomically(target, build, done=lambda folder: (folder / "model_index.json").is_file())
    assert (target / "model_index.json").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["one"]


def test_a_failed_build_leaves_neither_target_nor_staging(tmp_path):
    target = tmp_path / "file.bin"

    def build(staging):
        staging.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, build)
    assert list(tmp_path.iterdir()) == []


def test_the_tiny_clip_table_matches_the_local_tokenizer():
    tokenizer = build_clip_tokenizer()
    assert TINY_CLIP_TEXT["vocab_size"] == len(tokenizer)
    assert (TINY_CLIP_TEXT["bos_token_id"], TINY_CLIP_TEXT["eos_token_id"], TINY_CLIP_TEXT["pad_token_id"]) == (
        tokenizer.bos_token_id,
        tokenizer.eos_token_id,
        tokenizer.pad_token_id,
    )
