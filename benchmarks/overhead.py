"""Orchestration overhead: a whole text_to_video SOP run (agents, SOP engine, scripted accepts, manifest,
atomic files) against the same model calls made directly in a plain script, in one process, alternately.

Both paths use the very same loaded models (one ``keep`` memory), the same parameters and seeds. The direct
path sends A1's very request to the same LLM client (system prompt, A1's worked examples, its JSON schema and its
create args: greedy decoding, repetition penalty, token cap; :func:`enhance_directly`), calls the diffusers
pipelines itself with no progress callback, and writes the frame and the video with plain library calls. A warm-up
run of each comes first and is not timed. The enhanced prompts and the first frames of both paths are compared
(the frames pixel for pixel): if they differ the paths do not do the same work, and the benchmark fails
(:class:`NotTheSameWork`) rather than print a ratio of unlike things.

    python benchmarks/overhead.py [--profile bench-cpu] [--rounds 3] [--duration 2] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, print_table  # noqa: E402

if TYPE_CHECKING:
    from mora_agents.llm import LlmBackend
    from mora_tools.loading.memory import ModelMemory
    from mora_tools.loading.profiles import ModelProfile

PROMPT = "a paper boat drifting down a rainy street gutter"
SEED = 7
STAGES = 3  # enhance, first_frame, animate
SMOKE = {"profile_name": "tiny", "rounds": 1, "duration": 1.0}
"""The smallest run (``--smoke``, ``run.py --smoke``): it checks the benchmark works, its figures mean little."""


class NotTheSameWork(RuntimeError):
    """The SOP run and the plain script made different outputs: their times cannot be compared."""


def sop_run(spec, memory, profile: str, duration: float, out: Path):
    from mora_agents.messages import VideoRequest
    from mora_agents.studio import StudioConfig, run_task

    request = VideoRequest(task=spec.name, inputs={"prompt": PROMPT, "duration": duration}, seed=SEED)
    config = StudioConfig(profile=profile, review="scripted", decisions=["accept", "accept"])
    workspace, manifest = run_task(spec, request, out, config, memory=memory)
    return workspace.path(manifest.stages[1].result.path), manifest


def enhance_directly(backend: LlmBackend, request: str) -> str:
    """A1's model call without the agent: the messages, schema and arguments A1 sends first for a plain enhancement
    (:meth:`PromptEnhancerAgent.first_call`), to the same client; the answer parsed as A1 parses it. Built by A1
    itself, so a change to A1's request changes this one too."""
    from mora_agents.agents import PromptEnhancerAgent
    from mora_agents.agents._prompt_enhancer import parse_prompt_answer

    call = PromptEnhancerAgent.from_backend("a1", backend).first_call(request)
    create = backend.client.create(call.messages, json_output=call.json_output, extra_create_args=call.create_args)
    return parse_prompt_answer(asyncio.run(create).content)


def direct_run(
    memory: ModelMemory, profile: ModelProfile, duration: float, out: Path
) -> tuple[Path, str, dict[str, float]]:
    """The plain script: the same calls, straight to the LLM client and diffusers. Returns the first frame's file,
    the enhanced prompt and the seconds of each part, named as the SOP's stages."""
    import torch

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    from diffusers.utils import export_to_video

    prompt = enhance_directly(memory.acquire("llm/default", None), PROMPT)
    seconds["enhance"], started = time.perf_counter() - started, time.perf_counter()

    frame_tool = memory.acquire(f"{profile.name}/text_to_image", None)
    s = profile.text_to_image
    generator = torch.Generator("cpu").manual_seed(SEED)
    common = {
        "prompt": prompt,
        "negative_prompt": s.negative_prompt,
        "num_inference_steps": s.steps,
        "guidance_scale": s.guidance_scale,
        "generator": generator,
    }
    latents = frame_tool.base(
        **common, width=s.width, height=s.height, denoising_end=s.refiner_start, output_type="latent"
    ).images
    image = frame_tool.refiner(**common, image=latents, denoising_start=s.refiner_start).images[0]
    frame_path = out / "frame.png"
    image.save(frame_path)
    seconds["first_frame"], started = time.perf_counter() - started, time.perf_counter()

    video = memory.acquire(f"{profile.name}/image_to_video", None).pipe
    v = profile.image_to_video
    generator = torch.Generator("cpu").manual_seed(SEED)
    wanted, frames, current = round(duration * v.fps), [], image
    while len(frames) < wanted:
        segment = video(
            image=current,
            height=image.height,
            width=image.width,
            num_frames=v.frames_per_segment,
            num_inference_steps=v.steps,
            min_guidance_scale=v.min_guidance_scale,
            max_guidance_scale=v.max_guidance_scale,
            fps=v.fps,
            motion_bucket_id=v.motion_bucket_id,
            noise_aug_strength=v.noise_aug_strength,
            decode_chunk_size=v.decode_chunk_size,
            generator=generator,
        ).frames[0]
        frames += segment if not frames else segment[1:]  # each next segment starts on the last frame
        current = segment[-1]
    export_to_video(frames[:wanted], str(out / "video.mp4"), fps=v.fps)
    seconds["animate"] = time.perf_counter() - started
    return frame_path, prompt, seconds


class ModelClock:
    """Seconds spent inside model calls (pipelines' ``__call__``, llama.cpp's chat completion), wherever made.

    Wall time minus model time is what each path adds around the models: for the SOP run the whole
    orchestration, for the plain script its file writes. Unlike the wall-time difference, it is not
    drowned in the models' own run-to-run noise (a few hundred ms per stage on a shared CPU).
    """

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, cls: type, name: str) -> None:
        original = getattr(cls, name)
        if getattr(original, "_mora_clock", None) is self:
            return

        @functools.wraps(original)  # keeps the signature: the tools pick keywords by inspecting it
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        timed._mora_clock = self
        setattr(cls, name, timed)


def measure(profile_name: str = "bench-cpu", rounds: int = 3, duration: float = 2.0) -> dict:
    """Alternate SOP and direct runs ``rounds`` times after one warm-up of each; medians and raw times."""
    from mora_agents.sop import find_sop
    from mora_tools.loading.memory import ModelMemory
    from mora_tools.loading.profiles import load_profile

    profile = load_profile(profile_name)
    spec = find_sop("text_to_video")
    memory = ModelMemory("keep")
    totals: dict[str, list[float]] = {"sop": [], "direct": []}
    parts: dict[str, dict[str, list[float]]] = {"sop": {}, "direct": {}}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sop_frame, manifest = sop_run(spec, memory, profile_name, duration, root / "warm-sop")
        (root / "warm-direct").mkdir()
        direct_frame, direct_prompt, _ = direct_run(memory, profile, duration, root / "warm-direct")
        sop_prompt = manifest.enhanced_prompt.prompt if manifest.enhanced_prompt else None
        if sop_prompt != direct_prompt:
            raise NotTheSameWork(
                f"the enhanced prompts differ: the SOP run's A1 gave {sop_prompt!r} "
                f"({manifest.enhanced_prompt.source if manifest.enhanced_prompt else 'no prompt'}), "
                f"the direct call {direct_prompt!r}: make the direct path send what A1 sends"
            )
        if not np.array_equal(np.asarray(_image(sop_frame)), np.asarray(_image(direct_frame))):
            raise NotTheSameWork(
                f"the first frames differ ({sop_frame} against {direct_frame}) although the prompts agree: make "
                "the direct path call the pipelines as A2's tool does"
            )
        clock = _clock_models(memory)
        outside: dict[str, list[float]] = {"sop": [], "direct": []}
        for index in range(rounds):
            clock.seconds, started = 0.0, time.perf_counter()
            _, manifest = sop_run(spec, memory, profile_name, duration, root / f"sop-{index}")
            totals["sop"].append(time.perf_counter() - started)
            outside["sop"].append(totals["sop"][-1] - clock.seconds)
            _collect(parts["sop"], {stage.id: stage.seconds for stage in manifest.stages})
            (root / f"direct-{index}").mkdir()
            clock.seconds, started = 0.0, time.perf_counter()
            _, _, seconds = direct_run(memory, profile, duration, root / f"direct-{index}")
            totals["direct"].append(time.perf_counter() - started)
            outside["direct"].append(totals["direct"][-1] - clock.seconds)
            _collect(parts["direct"], seconds)
    sop, direct = statistics.median(totals["sop"]), statistics.median(totals["direct"])
    per_stage = {
        stage: round((statistics.median(parts["sop"][stage]) - statistics.median(parts["direct"][stage])) * 1000, 1)
        for stage in parts["direct"]
    }
    outside_sop, outside_direct = statistics.median(outside["sop"]), statistics.median(outside["direct"])
    return {
        "overhead_ratio": round(sop / direct, 4),
        "overhead_ms_per_stage": round((sop - direct) * 1000 / STAGES, 1),
        "outside_models_ms_per_stage": round((outside_sop - outside_direct) * 1000 / STAGES, 1),
        "raw": {
            "outside_models_s": {side: [round(t, 3) for t in v] for side, v in outside.items()},
            "profile": profile_name,
            "duration_s": duration,
            "rounds": rounds,
            "stages": STAGES,
            "sop_s": [round(t, 3) for t in totals["sop"]],
            "direct_s": [round(t, 3) for t in totals["direct"]],
            "sop_median_s": round(sop, 3),
            "direct_median_s": round(direct, 3),
            "stage_overhead_ms": per_stage,
            "stage_s": {side: {k: [round(t, 3) for t in v] for k, v in p.items()} for side, p in parts.items()},
            "same_first_frame": True,  # checked after the warm-up: NotTheSameWork otherwise
            "enhanced_prompt": sop_prompt,
        },
    }


def _clock_models(memory) -> ModelClock:
    """Time every model call both paths make: the pipelines the memory loaded and the LLM."""
    clock = ModelClock()
    for key in memory.loaded_keys:
        tool = memory.acquire(key, None)
        if key.startswith("llm/"):
            clock.wrap(type(tool.client.llm), "create_chat_completion")
            continue
        for value in vars(tool).values():
            if hasattr(value, "components"):
                clock.wrap(type(value), "__call__")
    return clock


def _collect(into: dict[str, list[float]], seconds: dict[str, float]) -> None:
    for stage, value in seconds.items():
        into.setdefault(stage, []).append(value)


def _image(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def report(result: dict) -> None:
    raw = result["raw"]
    print_table(
        f"orchestration overhead ({raw['profile']}, {raw['duration_s']} s video, {raw['rounds']} rounds)",
        [
            {
                "SOP median s": raw["sop_median_s"],
                "direct median s": raw["direct_median_s"],
                "ratio": result["overhead_ratio"],
                "ms/stage": result["overhead_ms_per_stage"],
                "ms/stage outside models": result["outside_models_ms_per_stage"],
                "same frame": raw["same_first_frame"],
                **{f"{stage} ms": ms for stage, ms in raw["stage_overhead_ms"].items()},
            }
        ],
        ["SOP median s", "direct median s", "ratio", "ms/stage", "ms/stage outside models", "same frame"]
        + [f"{stage} ms" for stage in raw["stage_overhead_ms"]],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench-cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()
    result = measure(**SMOKE) if args.smoke else measure(args.profile, args.rounds, args.duration)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
