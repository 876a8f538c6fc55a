"""The paper's efficiency figure, remeasured: a 3 s text-to-video at 1024x576 on the `bench` profile
(SDXL base + refiner and SVD-XT at full size, random weights), next to the paper's Table 9 (261 s, 46.98 GB
on one H100).

Each configuration runs in a fresh process: wall time of the whole SOP run (the LLM prompt step, the
first frame, the video) after the models are built, and peak CUDA memory. The speed levers are tried
one at a time on top of the baseline, so the table says which helped:

- ``fp16``: the paper's precision; ``bf16``: same speed class, no fp16 VAE overflow (no fp32 VAE upcast);
- ``sdpa``: PyTorch's fused attention, on by default in diffusers (``eager`` attention is the control);
- ``compile``: ``torch.compile`` of the UNets (the first step pays for compiling);
- ``decode_chunk``: SVD decodes 12 frames per chunk in the paper, fewer is less memory, more is faster;
- memory policy ``free`` (each stage's models released) against ``offload``.

Runs anywhere (``--profile tiny --device cpu`` checks the harness); the figures mean something on a GPU.

    python benchmarks/gpu_text_to_video.py [--profile bench] [--configs baseline bf16 compile ...] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, peak_cuda_mib, peak_rss_mib, print_table, run_child  # noqa: E402

PAPER = {"seconds": 261.0, "peak_gb": 46.98}
PROMPT = "a red vintage car driving along a coastal road at sunset"
CONFIGS = {
    # name -> (dtype, memory policy, compile, attention, decode_chunk_size or None for the profile's)
    "baseline": ("float16", "free", False, "sdpa", None),
    "bf16": ("bfloat16", "free", False, "sdpa", None),
    "eager-attention": ("bfloat16", "free", False, "eager", None),
    "compile": ("bfloat16", "free", True, "sdpa", None),
    "decode-chunk-4": ("bfloat16", "free", False, "sdpa", 4),
    "decode-chunk-25": ("bfloat16", "free", False, "sdpa", 25),
    "offload": ("bfloat16", "offload", False, "sdpa", None),
}
SMOKE = {"profile": "tiny", "configs": ("baseline",), "device": "cpu", "duration": 1.0}
"""The smallest run (``--smoke``, ``run.py --smoke``): the harness on tiny models on the CPU, on any machine; its
figures say nothing about the paper's (``gpu_time_vs_paper`` of a tiny CPU run is no GPU figure)."""


def child(config_name: str, profile_name: str, device: str | None, duration: float) -> None:
    import torch

    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import StudioConfig, run_task
    from mora_tools.loading.models import profile_models, resolve_model
    from mora_tools.loading.profiles import load_profile

    dtype, policy, compile_, attention, chunk = CONFIGS[config_name]
    if device == "cpu" or not torch.cuda.is_available():
        dtype = "float32"  # half precision on a CPU measures nothing useful
    profile = load_profile(profile_name)
    for _, reference in profile_models(profile):
        resolve_model(reference)  # build random-weight models before the clock starts
    if attention == "eager":
        # The control for SDPA: diffusers' attention processors call SDPA when torch has it; hide it.
        torch.nn.functional.scaled_dot_product_attention = _eager_attention
    if chunk is not None:
        profile.image_to_video.decode_chunk_size = chunk
    profile_file = Path(tempfile.mkdtemp(prefix="mora-gpu-")) / f"{profile.name}.yaml"
    import yaml

    profile_file.write_text(yaml.safe_dump(profile.model_dump(mode="json"), sort_keys=False))
    config = StudioConfig(profile=str(profile_file), dtype=dtype, memory=policy, compile=compile_, device=device)
    spec = find_sop("text_to_video")
    request = VideoRequest(task=spec.name, inputs={"prompt": PROMPT, "duration": duration}, seed=0)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    _, manifest = run_task(spec, request, profile_file.parent / "runs", config)
    wall = round(time.perf_counter() - started, 2)
    stages = {stage.id: stage.seconds for stage in manifest.stages}
    emit({"config": config_name, "dtype": dtype, "policy": policy, "compile": compile_, "attention": attention,
          "decode_chunk_size": profile.image_to_video.decode_chunk_size, "wall_s": wall, "stage_s": stages,
          "frames": manifest.output.num_frames, "peak_cuda_mib": peak_cuda_mib(), "peak_rss_mib": peak_rss_mib(),
          "device": str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else "cpu"})  # fmt: skip


def _eager_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, **_):
    import math

    import torch

    scale = scale if scale is not None else 1 / math.sqrt(query.shape[-1])
    weights = (query @ key.transpose(-2, -1)) * scale
    if attn_mask is not None:
        weights = weights + attn_mask if attn_mask.dtype != torch.bool else weights.masked_fill(~attn_mask, -1e4)
    return torch.softmax(weights, dim=-1) @ value


def measure(
    profile: str = "bench", configs: tuple[str, ...] = tuple(CONFIGS), device: str | None = None, duration: float = 3.0
) -> dict:
    extra = ["--device", device] if device else []
    runs = {name: run_child("gpu_text_to_video.py", "--child", name, "--profile", profile, "--duration", str(duration),
                            *extra, timeout=3600) for name in configs}  # fmt: skip
    best = min(runs.values(), key=lambda run: run["wall_s"])
    peak = min((run["peak_cuda_mib"] for run in runs.values() if run["peak_cuda_mib"]), default=None)
    return {
        "gpu_time_vs_paper": round(best["wall_s"] / PAPER["seconds"], 3),
        "gpu_peak_vs_paper": round(peak * 2**20 / 1e9 / PAPER["peak_gb"], 3) if peak else None,
        "raw": {"profile": profile, "duration_s": duration, "paper_table_9": PAPER, "runs": runs},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    rows = [{"config": name, "dtype": r["dtype"], "policy": r["policy"], "compile": r["compile"],
             "attention": r["attention"], "chunk": r["decode_chunk_size"], "wall s": r["wall_s"],
             "peak GB": round(r["peak_cuda_mib"] * 2**20 / 1e9, 2) if r["peak_cuda_mib"] else None}
            for name, r in raw["runs"].items()]  # fmt: skip
    rows.append({"config": "paper, Table 9", "wall s": PAPER["seconds"], "peak GB": PAPER["peak_gb"]})
    device = next(iter(raw["runs"].values()))["device"]
    print_table(f"{raw['duration_s']} s text-to-video, profile {raw['profile']}, on {device}", rows, list(rows[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--device", default=None)
    parser.add_argument("--duration", type=float, default=3.0)
    add_smoke_flag(parser, SMOKE)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile, args.device, args.duration)
        return
    result = measure(**SMOKE) if args.smoke else measure(args.profile, tuple(args.configs), args.device, args.duration)
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
