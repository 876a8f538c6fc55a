"""Seconds and peak memory per training step of A2 and A4 (``mora learn train``'s inner step), each agent alone.

The paper's training settings (App. A.9): LoRA, gradient checkpointing, bf16 autocast where the GPU has it, batch 4,
one modulation token appended. On the ``bench`` profile (the paper's architectures at full size, random weights:
SDXL base at 1024x576, SVD-XT with 25 frames) this is the figure for planning GPU time; with ``--profile tiny
--device cpu`` it checks the harness. Each agent runs in a fresh process, so peak memory is its own.

    python benchmarks/learn_step.py [--profile bench] [--batch-size 4] [--steps 5] [--agents a2 a4] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, peak_cuda_mib, peak_rss_mib, print_table, run_child  # noqa: E402

ROLES = {"a2": "text_to_image", "a4": "image_to_video"}
SMOKE = {"profile": "tiny", "agents": ("a2", "a4"), "batch_size": 1, "steps": 1, "device": "cpu", "frames": 2}
"""The smallest run (``--smoke``, ``run.py --smoke``): the harness on tiny models on the CPU, on any machine; its
figures say nothing about a full-size step."""


def measure_step(
    role: str, profile_name: str, batch_size: int, steps: int, device: str | None, frames: int | None
) -> dict:
    """In this process: load ``role``'s trainable agent, then time ``steps`` training steps after a warm-up one."""
    import torch

    from mora_tools.adapters.modulation import ModulationEmbedding, attach_modulation
    from mora_tools.loading.profiles import load_profile
    from mora_tools.training.base import ImageToVideoBatch, TextToImageBatch
    from mora_tools.training.load import load_trainable_agent

    profile = load_profile(profile_name)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else (torch.float16 if device == "cuda" else torch.float32)
    started = time.perf_counter()
    agent = load_trainable_agent(profile, role, device=device, dtype=dtype)
    load_s = time.perf_counter() - started
    params = agent.add_lora(rank=4)
    for param in params:
        param.data = param.data.float()
    agent.enable_gradient_checkpointing()
    modulation = ModulationEmbedding(agent.modulation_init()).to(device)
    attach_modulation(agent.denoiser, modulation)
    optimizer = torch.optim.AdamW([*params, modulation.z], lr=1e-5)
    width, height = profile.text_to_image.width, profile.text_to_image.height
    count = frames or profile.image_to_video.frames_per_segment
    if role == "text_to_image":
        batch = TextToImageBatch(
            prompts=["a red car"] * batch_size, images=torch.rand(batch_size, 3, height, width) * 2 - 1
        )
    else:
        batch = ImageToVideoBatch(
            first_frames=torch.rand(batch_size, 3, height, width) * 2 - 1,
            videos=torch.rand(batch_size, count, 3, height, width) * 2 - 1,
            fps=profile.image_to_video.fps,
            prompts=["a red car"] * batch_size,
        )
    times = []
    for step in range(steps + 1):  # the first step warms up (allocator, kernels) and is not counted
        if device == "cuda":
            torch.cuda.synchronize()
        clock = time.perf_counter()
        with torch.autocast(
            device_type="cuda" if device == "cuda" else "cpu", dtype=dtype, enabled=dtype != torch.float32
        ):
            loss = agent.loss(batch, torch.Generator().manual_seed(step), snr_gamma=5.0)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step:
            times.append(time.perf_counter() - clock)
    return {
        "agent": role,
        "profile": profile_name,
        "device": device,
        "dtype": str(dtype).removeprefix("torch."),
        "batch": batch_size,
        "size": f"{width}x{height}" + (f"x{count}f" if role == "image_to_video" else ""),
        "load_s": round(load_s, 2),
        "step_s": round(statistics.median(times), 3),
        "trained_params_m": round(sum(p.numel() for p in params) / 1e6, 2),
        "peak_cuda_mib": peak_cuda_mib(),
        "peak_rss_mib": peak_rss_mib(),
    }


COLUMNS = ["agent", "profile", "device", "dtype", "batch", "size", "trained_params_m", "load_s", "step_s",
           "peak_cuda_mib", "peak_rss_mib"]  # fmt: skip


def measure(
    profile: str = "bench",
    agents: tuple[str, ...] = ("a2", "a4"),
    batch_size: int = 4,
    steps: int = 5,
    device: str | None = None,
    frames: int | None = None,
) -> dict:
    """One fresh process per agent; returns ``{"learn_step_s": {role: seconds}, "raw": [rows]}``."""
    rows = []
    for agent in agents:
        extra = ["--device", device] if device else []
        extra += ["--frames", str(frames)] if frames else []
        rows.append(run_child("learn_step.py", "--child", agent, "--profile", profile, "--batch-size",
                              str(batch_size), "--steps", str(steps), *extra))  # fmt: skip
    return {"learn_step_s": {row["agent"]: row["step_s"] for row in rows}, "raw": rows}


def report(result: dict) -> None:
    print_table("Training step per agent (LoRA rank 4, gradient checkpointing, one modulation token)",
                result["raw"], COLUMNS)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench")
    parser.add_argument("--agents", nargs="+", default=["a2", "a4"], choices=sorted(ROLES))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after one warm-up step")
    parser.add_argument("--frames", type=int, default=None, help="A4 frames (default: the profile's per segment)")
    parser.add_argument("--device", default=None)
    add_smoke_flag(parser, SMOKE)
    parser.add_argument("--child", choices=sorted(ROLES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        emit(measure_step(ROLES[args.child], args.profile, args.batch_size, args.steps, args.device, args.frames))
        return
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(args.profile, tuple(args.agents), args.batch_size, args.steps, args.device, args.frames)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
