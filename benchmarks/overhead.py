"""Orchestration overhead: a whole text_to_video SOP run (agents, SOP engine, scripted accepts, manifest,
atomic files) against the same model calls made directly in a plain script, in one process, alternately.

Both paths use the very same loaded models (one ``keep`` memory), the same parameters and seeds; the
direct path calls llama.cpp and the diffusers pipelines itself, with no progress callback, and writes
the frame and the video with plain library calls. A warm-up run of each comes first and is not timed.
The first frames of both paths are compared pixel for pixel, to show the work really is the same.

    python benchmarks/overhead.py [--profile bench-cpu] [--rounds 3] [--duration 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import emit, print_table  # noqa: E402

PROMPT = "a paper boat drifting down a rainy street gutter"
SEED = 7
STAGES = 3  # enhance, first_frame, animate


def sop_run(spec, memory, profile: str, duration: float, out: Path):
    from mora_agents.messages import VideoRequest
    from mora_agents.studio import StudioConfig, run_task

    request = VideoRequest(task=spec.name, inputs={"prompt": PROMPT, "duration": duration}, seed=SEED)
    config = StudioConfig(profile=profile, review="scripted", decisions=["accept", "accept"])
    workspace, manifest = run_task(spec, request, out, config, memory=memory)
    return workspace.path(manifest.stages[1].result.path), manifest


def direct_run(memory, profile, duration: float, out: Path) -> Path:
    """The plain script: the same calls, straight to llama.cpp and diffusers."""
    import torch
    from diffusers.utils import export_to_video

    from mora_agents.llm import MAX_TOKENS
    from mora_agents.resources import role_prompt

    llm = memory.acquire("llm/default", None).client.llm
    answer = llm.create_chat_completion(
        messages=[
            {"role": "system", "content": role_prompt("prompt_enhancer")},
            {"role": "user", "content": f"Request: {PROMPT}"},
        ],
        response_format={
            "type": "json_object",
            "schema": {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
        },
        temperature=0.0,
        max_tokens=MAX_TOKENS,
    )
    prompt = json.loads(answer["choices"][0]["message"]["content"])["prompt"].strip()

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
    return frame_path


def measure(profile_name: str = "bench-cpu", rounds: int = 3, duration: float = 2.0) -> dict:
    """Alternate SOP and direct runs ``rounds`` times after one warm-up of each; medians and raw times."""
    from mora_agents.sop import find_sop
    from tools.memory import ModelMemory
    from tools.profiles import load_profile

    profile = load_profile(profile_name)
    spec = find_sop("text_to_video")
    memory = ModelMemory("keep")
    times: dict[str, list[float]] = {"sop": [], "direct": []}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sop_frame, manifest = sop_run(spec, memory, profile_name, duration, root / "warm-sop")
        (root / "warm-direct").mkdir()
        direct_frame = direct_run(memory, profile, duration, root / "warm-direct")
        same = bool(np.array_equal(np.asarray(_image(sop_frame)), np.asarray(_image(direct_frame))))
        for index in range(rounds):
            started = time.perf_counter()
            sop_run(spec, memory, profile_name, duration, root / f"sop-{index}")
            times["sop"].append(time.perf_counter() - started)
            (root / f"direct-{index}").mkdir()
            started = time.perf_counter()
            direct_run(memory, profile, duration, root / f"direct-{index}")
            times["direct"].append(time.perf_counter() - started)
    sop, direct = statistics.median(times["sop"]), statistics.median(times["direct"])
    return {
        "overhead_ratio": round(sop / direct, 4),
        "overhead_ms_per_stage": round((sop - direct) * 1000 / STAGES, 1),
        "raw": {
            "profile": profile_name,
            "duration_s": duration,
            "rounds": rounds,
            "stages": STAGES,
            "sop_s": [round(t, 3) for t in times["sop"]],
            "direct_s": [round(t, 3) for t in times["direct"]],
            "sop_median_s": round(sop, 3),
            "direct_median_s": round(direct, 3),
            "same_first_frame": same,
            "enhanced_prompt": manifest.enhanced_prompt.prompt if manifest.enhanced_prompt else None,
        },
    }


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
                "same frame": raw["same_first_frame"],
            }
        ],
        ["SOP median s", "direct median s", "ratio", "ms/stage", "same frame"],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench-cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    result = measure(args.profile, args.rounds, args.duration)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
