"""Peak memory of a text_to_video run against its heaviest single stage run alone, per memory policy.

Every measurement is a fresh process (peak RSS is per process; peak CUDA memory too, on a GPU). A stage
"alone" is a one-step SOP holding just that stage, run the same way as the whole task, so both sides pay
the same imports. The paper's rule (App. B.4) is that a run's peak is its heaviest agent's: the ratio
run / heaviest stage is ~1 when a stage's models are gone before the next stage loads.

    python benchmarks/peak_memory.py [--profile bench-cpu] [--duration 2] [--policies free offload keep]
        [--stages enhance first_frame animate] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, peak_cuda_mib, peak_rss_mib, print_table, run_child  # noqa: E402

PROMPT = "a lighthouse on a cliff in a storm, waves breaking"
STAGES = {
    # stage id -> (agent, inputs, bindings): the stage as text_to_video runs it, alone.
    "enhance": ("prompt_enhancer", {"prompt": "text"}, {"prompt": "$inputs.prompt"}),
    "first_frame": ("text_to_image", {"prompt": "text"}, {"prompt": "$inputs.prompt"}),
    "animate": (
        "image_to_video",
        {"image": "image", "duration": "seconds"},
        {"image": "$inputs.image", "duration": "$inputs.duration"},
    ),
}

SMOKE = {"profile": "tiny", "duration": 1.0, "policies": ("free",), "stages": ("animate",)}
"""The smallest run (``--smoke``, ``run.py --smoke``): one stage alone (A4's, the heaviest on every profile so far)
and one policy; it checks the benchmark works, its figures mean little."""


def stage_sop(stage: str, folder: Path) -> Path:
    import yaml

    agent, inputs, bindings = STAGES[stage]
    spec = {
        "name": f"alone_{stage}",
        "description": f"The {stage} stage of text_to_video, alone.",
        "inputs": {name: {"type": kind, "required": True} for name, kind in inputs.items()},
        "steps": [{"id": stage, "agent": agent, "with": bindings}],
        "output": stage,
    }
    path = folder / f"alone_{stage}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def child(what: str, profile: str, policy: str, duration: float) -> None:
    """In a fresh process: run the whole task or one stage alone, then report peak memory."""
    from mora_agents.messages import VideoRequest
    from mora_agents.sop import SopSpec, find_sop
    from mora_agents.studio import StudioConfig, run_task
    from mora_tools.loading.profiles import load_profile

    folder = Path(tempfile.mkdtemp(prefix="mora-peak-"))
    inputs: dict = {"prompt": PROMPT, "duration": duration}
    if what == "run":
        spec = find_sop("text_to_video")
    else:
        spec = SopSpec.from_file(stage_sop(what, folder))
        if what == "animate":
            from PIL import Image

            settings = load_profile(profile).text_to_image
            image = folder / "frame.png"
            Image.new("RGB", (settings.width, settings.height), (90, 120, 160)).save(image)
            inputs = {"image": str(image), "duration": duration}
        else:
            inputs = {"prompt": PROMPT}
    started = time.perf_counter()
    request = VideoRequest(task=spec.name, inputs=inputs, seed=1)
    _, manifest = run_task(spec, request, folder / "runs", StudioConfig(profile=profile, memory=policy))
    emit({"what": what, "policy": policy, "status": manifest.status, "wall_s": round(time.perf_counter() - started, 2),
          "peak_rss_mib": peak_rss_mib(), "peak_cuda_mib": peak_cuda_mib()})  # fmt: skip


def measure(
    profile: str = "bench-cpu",
    duration: float = 2.0,
    policies: tuple[str, ...] = ("free", "offload", "keep"),
    stages: tuple[str, ...] = tuple(STAGES),
) -> dict:
    """Each of ``stages`` alone, then the whole task under each of ``policies``, each in a fresh process; the ratio is
    a run's peak over the heaviest of the stages measured."""
    stages = {name: run_child("peak_memory.py", "--child", name, "--profile", profile, "--duration", str(duration))
              for name in stages}  # fmt: skip
    heaviest = max(stages, key=lambda name: stages[name]["peak_rss_mib"])
    runs = {policy: run_child("peak_memory.py", "--child", "run", "--policy", policy, "--profile", profile,
                              "--duration", str(duration)) for policy in policies}  # fmt: skip
    ratios = {policy: round(run["peak_rss_mib"] / stages[heaviest]["peak_rss_mib"], 3) for policy, run in runs.items()}
    cuda = {}
    if stages[heaviest]["peak_cuda_mib"]:
        heaviest_cuda = max(stages.values(), key=lambda s: s["peak_cuda_mib"])["peak_cuda_mib"]
        cuda = {policy: round(run["peak_cuda_mib"] / heaviest_cuda, 3) for policy, run in runs.items()}
    return {
        "peak_mem_ratio": ratios,
        "peak_cuda_mem_ratio": cuda or None,
        "raw": {
            "profile": profile,
            "duration_s": duration,
            "stages_alone": stages,
            "heaviest_stage": heaviest,
            "runs": runs,
            "note": None
            if cuda
            else "no accelerator here: 'offload' has nowhere to offload from and keeps the models in RAM like 'keep'",
        },
    }


def report(result: dict) -> None:
    raw = result["raw"]
    rows = [{"measured": f"stage {name} alone", "peak RSS MiB": s["peak_rss_mib"], "peak CUDA MiB": s["peak_cuda_mib"],
             "wall s": s["wall_s"], "ratio": None} for name, s in raw["stages_alone"].items()]  # fmt: skip
    rows += [{"measured": f"text_to_video, {policy}", "peak RSS MiB": r["peak_rss_mib"],
              "peak CUDA MiB": r["peak_cuda_mib"], "wall s": r["wall_s"], "ratio": result["peak_mem_ratio"][policy]}
             for policy, r in raw["runs"].items()]  # fmt: skip
    title = f"peak memory ({raw['profile']}, {raw['duration_s']} s video; ratio = run / heaviest stage"
    print_table(f"{title} '{raw['heaviest_stage']}')", rows, list(rows[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="bench-cpu")
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--policies", nargs="+", default=["free", "offload", "keep"])
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    add_smoke_flag(parser, SMOKE)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--policy", default="free", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.profile, args.policy, args.duration)
        return
    if args.smoke:
        result = measure(**SMOKE)
    else:
        result = measure(args.profile, args.duration, tuple(args.policies), tuple(args.stages))
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
