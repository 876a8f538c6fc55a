"""Laying runs' output videos out as VBench expects sampled videos, for scoring them with VBench itself."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

from mora_agents.errors import MoraError
from mora_agents.media import link_atomic
from mora_agents.messages import VideoArtifact
from mora_agents.workspace import Workspace

VBENCH_SAMPLES = 5
"""VBench samples 5 videos per prompt, named ``{prompt}-0.mp4`` .. ``{prompt}-4.mp4``."""
VBENCH_MAX_NAME = 180
"""VBench-2.0 keeps the first 180 characters of a too-long prompt in file names (its README-FAQ)."""


def vbench_stem(prompt: str) -> str:
    """The prompt as VBench's file-name stem: slashes (not allowed in names) become spaces; at most 180 chars."""
    stem = re.sub(r"[/\\\x00]", " ", prompt.strip())
    stem = re.sub(r"\s+", " ", stem)
    return stem[:VBENCH_MAX_NAME].rstrip()


def export_vbench(run_dirs: Iterable[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Lay runs' output videos out as VBench expects sampled videos: ``OUT/{prompt}-{index}.mp4``.

    VBench's prompt suite (Vchitect/VBench ``prompts/README.md``) samples 5 videos per prompt and saves them as
    ``$prompt-$index.mp4``, index 0-4; in ``--mode=custom_input`` VBench reads each video's prompt back from its
    name by dropping the ``-<index>`` ending (``get_prompt_from_filename`` in ``vbench/utils.py``). Runs with the
    same prompt get the next free index. Each file is hard-linked (copied where links fail) under a temporary name
    and renamed, so the folder never holds a half-written video.

    Returns:
        `list[Path]`: the files written, in the order of ``run_dirs``.

    Raises:
        MoraError: a run folder without a manifest, without an output video, or without a prompt.
    """
    out = Path(out_dir)
    plan: list[tuple[Path, str]] = []
    for run_dir in run_dirs:
        workspace = Workspace(Path(run_dir))
        manifest = workspace.load_manifest()
        if not isinstance(manifest.output, VideoArtifact) or not workspace.path(manifest.output.path).is_file():
            raise MoraError(f"run {run_dir} has no output video to export (its status is {manifest.status})")
        prompt = str(manifest.request.inputs.get("prompt") or "").strip()
        if not prompt:
            raise MoraError(
                f"run {run_dir} ({manifest.sop}) has no prompt, and VBench names each video after its prompt"
            )
        plan.append((workspace.path(manifest.output.path), vbench_stem(prompt)))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MoraError(f"cannot create {out}: {error.strerror or error}") from None
    written: list[Path] = []
    for source, stem in plan:
        index = 0
        while (out / f"{stem}-{index}.mp4").exists():
            index += 1
        target = out / f"{stem}-{index}.mp4"
        try:
            link_atomic(source, target)
        except OSError as error:
            raise MoraError(f"cannot write {target}: {error.strerror or error}") from None
        written.append(target)
    return written


__all__ = ["VBENCH_MAX_NAME", "VBENCH_SAMPLES", "export_vbench", "vbench_stem"]
