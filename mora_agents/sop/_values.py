"""A run's values at run time: the inputs (media imported into the workspace), each step's result, and
the resolution of bindings, accessors, conditions and joins against them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mora_agents.errors import MoraError
from mora_agents.media import (
    VideoFileWriter,
    append_video,
    copy_atomic,
    fit_frame,
    load_image,
    save_png,
    video_frame,
    video_info,
)
from mora_agents.messages import ImageArtifact, VideoArtifact
from mora_agents.sop._bindings import Binding, Condition, Reference
from mora_agents.sop._schema import SopSpec
from mora_agents.workspace import Workspace, sha256_file


@dataclass(frozen=True)
class MediaFormat:
    """The frame size and rate every video of a run is made in (the profile's)."""

    width: int
    height: int
    fps: int

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)


class MissingValue(LookupError):
    """A reference names something absent: an input not given, or a step that was skipped."""


class RunValues:
    """Holds inputs and step results; turns bindings into the values agents receive."""

    def __init__(self, spec: SopSpec, workspace: Workspace, media: MediaFormat) -> None:
        self.spec = spec
        self.workspace = workspace
        self.media = media
        self.inputs: dict[str, Any] = {}
        self.results: dict[str, BaseModel] = {}
        self._frames: dict[tuple[str, str], ImageArtifact] = {}

    def import_inputs(self, bound: dict[str, Any]) -> None:
        """Copy image and video inputs into ``inputs/`` as artifacts; keep the rest as they are."""
        for name, value in bound.items():
            kind = self.spec.inputs[name].type
            if kind == "image":
                self.inputs[name] = self._import_image(name, Path(value))
            elif kind == "video":
                self.inputs[name] = self._import_video(name, Path(value))
            else:
                self.inputs[name] = value

    def restore_inputs(self, bound: dict[str, Any], imported: dict[str, BaseModel]) -> None:
        """On resume: the media inputs as already imported (checked against their sha256), the rest as bound."""
        for name, value in bound.items():
            artifact = imported.get(name)
            if artifact is not None and _intact(self.workspace, artifact):
                self.inputs[name] = artifact
            elif self.spec.inputs[name].type in ("image", "video"):
                self.import_inputs({name: value})
            else:
                self.inputs[name] = value

    def resolve(self, binding: Binding, where: str) -> Any:
        """The binding's value: a literal, or the first of its references that has one."""
        if binding.is_literal:
            return binding.literal
        for ref in binding.references:
            try:
                return self.value(ref)
            except MissingValue:
                continue
        raise MoraError(f"{where}: {binding} has no value (an input not given, or a step that was skipped)")

    def value(self, ref: Reference) -> Any:
        if ref.source == "inputs":
            if ref.key not in self.inputs:
                raise MissingValue(str(ref))
            value = self.inputs[ref.key]
        else:
            if ref.source not in self.results:
                raise MissingValue(str(ref))
            output = self.results[ref.source]
            value = output if ref.key == getattr(output, "export_name", None) else getattr(output, ref.key)
        for accessor in ref.accessors:
            value = self._access(value, accessor, ref)
        return value

    def holds(self, condition: Condition) -> bool:
        """True when any clause holds; a clause on a missing value is false (``not`` makes it true)."""
        for clause in condition.clauses:
            try:
                value = self.value(clause.reference)
            except MissingValue:
                present, value = False, None
            else:
                present = value not in (None, "")
            if clause.operator is None:
                result = present != clause.negated
            else:
                equal = present and _as_text(value) == clause.word
                result = equal if clause.operator == "==" else not equal
            if result:
                return True
        return False

    def join(self, bindings: list[str], name: str) -> VideoArtifact:
        """Play the bound videos one after another into one MP4 (streamed, fitted to the run's format)."""
        started = time.perf_counter()
        parts = [self.resolve(Binding.parse(text), f"output.join[{i}]") for i, text in enumerate(bindings)]
        relative = self.workspace.unique_name(f"stages/{name}", ".mp4")
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        counts = []
        with VideoFileWriter(path, fps=self.media.fps) as writer:
            writer.size = self.media.size
            for part in parts:
                counts.append(append_video(writer, self.workspace.path(part.path)))
        return VideoArtifact(
            path=relative,
            sha256=sha256_file(path),
            model_id="join",
            parameters={"parts": [part.path for part in parts], "frames_per_part": counts},
            seed=0,
            seconds=round(time.perf_counter() - started, 3),
            width=self.media.width,
            height=self.media.height,
            fps=self.media.fps,
            num_frames=sum(counts),
            segments=len(parts),
        )

    # -- media --------------------------------------------------------------------------------------

    def _import_image(self, name: str, source: Path) -> ImageArtifact:
        image = load_image(source)
        fitted = fit_frame(image, self.media.size)
        relative = f"inputs/{name}.png"
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_png(fitted, path)
        return ImageArtifact(
            path=relative,
            sha256=sha256_file(path),
            model_id="input",
            parameters={"source": str(source), "source_size": list(image.size), "fitted_to": list(self.media.size)},
            seed=0,
            seconds=0.0,
            width=fitted.width,
            height=fitted.height,
        )

    def _import_video(self, name: str, source: Path) -> VideoArtifact:
        relative = f"inputs/{name}.mp4"
        path = self.workspace.path(relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        info = video_info(source)
        copied = info["size"] == self.media.size and round(info["fps"], 3) == self.media.fps
        if copied:
            # Already in the run's format (e.g. an earlier turn's result): copied, so no generation is lost.
            copy_atomic(source, path)
            frames = info["num_frames"]
        else:
            # Re-encoded at the run's size and rate, so joined outputs are seamless and frame counts add up.
            with VideoFileWriter(path, fps=self.media.fps) as writer:
                writer.size = self.media.size
                frames = append_video(writer, source)
        return VideoArtifact(
            path=relative,
            sha256=sha256_file(path),
            model_id="input",
            parameters={"source": str(source), "copied": copied},
            seed=0,
            seconds=0.0,
            width=self.media.width,
            height=self.media.height,
            fps=self.media.fps,
            num_frames=frames,
        )

    def _access(self, value: Any, accessor: str, ref: Reference) -> Any:
        if not isinstance(value, VideoArtifact):
            raise MoraError(f"{ref}: .{accessor} needs a video")
        if accessor == "duration":
            return value.duration
        key = (value.path, accessor)
        if key not in self._frames:
            which = "first" if accessor == "first_frame" else "last"
            frame = fit_frame(video_frame(self.workspace.path(value.path), which), self.media.size)
            # A fixed name, rewritten with the same pixels when a resumed run extracts it again.
            relative = f"{Path(value.path).with_suffix('')}.{accessor}.png"
            save_png(frame, self.workspace.path(relative))
            self._frames[key] = ImageArtifact(
                path=relative,
                sha256=sha256_file(self.workspace.path(relative)),
                model_id="frame",
                parameters={"video": value.path, "frame": which},
                seed=0,
                seconds=0.0,
                width=frame.width,
                height=frame.height,
            )
        return self._frames[key]


def _intact(workspace: Workspace, artifact: BaseModel) -> bool:
    path = workspace.path(artifact.path)
    return path.is_file() and sha256_file(path) == artifact.sha256


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
