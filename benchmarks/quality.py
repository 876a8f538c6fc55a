"""Quality of every built-in task, laid out like the Mora paper's Tables 1-2, with the published numbers beside ours.

    python benchmarks/quality.py [--quick] [--profile tiny] [--metrics-profile tiny] [--tasks TASK ...] [--out DIR]
        [--json OUT.json] [--smoke]

Runs each SOP on a small fixed prompt set of our own (2 requests per task; ``--quick``: 1 request, 1 s), with input
media made here (a photo scikit-image ships, and two short pans over another of its photos), scores every output
with :func:`mora_agents.evaluation.evaluate.evaluate_run` (which also stores the scores in each run's manifest) and
prints one table per task: our mean over the requests, then the paper's Mora (Open-Sora-Plan, fine-tuned) and Sora
rows.

On the defaults (``tiny`` models, ``tiny`` metric models) the numbers are those of random weights: the point is
that the whole path runs and lands in range. Real figures need a real profile and ``--metrics-profile real`` with
the metric models in the Hugging Face cache (``mora models check``; the metric models are listed in
``mora_agents/evaluation/metrics/profiles/real.yaml``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, print_table, publish  # noqa: E402

# The paper's published numbers: Table 1 (text-to-video) and Table 2 (the other five tasks), rows "Mora
# (Open-Sora-Plan)" (fine-tuned: the paper's headline model) and "Sora". None: the table has no such column.
# imaging_quality stays listed for the paper's figures; mora does not compute it (evaluation.NOT_COMPUTED), and our
# video_quality is the mean of the other five dimensions, so its row is not comparable with the paper's.
PAPER: dict[str, dict[str, tuple[float | None, float | None]]] = {
    "text_to_video": {  # Table 1
        "video_quality": (0.800, 0.797),
        "subject_consistency": (0.98, 0.95),
        "background_consistency": (0.97, 0.96),
        "motion_smoothness": (0.99, 1.00),
        "aesthetic_quality": (0.66, 0.60),
        "dynamic_degree": (0.50, 0.69),
        "imaging_quality": (0.70, 0.58),
        "temporal_style": (0.31, 0.35),
        "video_length": (12.0, 60.0),
    },
    "image_to_video": {  # Table 2, Image-to-Video Generation
        "video_text_integration": (0.90, 0.90),
        "motion_smoothness": (0.98, 0.99),
        "dynamic_degree": (1.00, 0.75),
        "imaging_quality": (0.67, 0.63),
    },
    "extend_video": {  # Table 2, Extend Videos
        "tcon": (0.98, 0.99),
        "imaging_quality": (0.45, 0.43),
        "temporal_style": (0.23, 0.24),
    },
    "edit_video": {  # Table 2, Video-to-Video Editing
        "imaging_quality": (0.52, 0.52),
        "temporal_style": (0.24, 0.24),
    },
    "connect_videos": {  # Table 2, Connect Videos
        "imaging_quality": (0.43, 0.52),
        "tmean": (0.44, 0.64),
    },
    "digital_world": {  # Table 2, Simulate Digital Worlds
        "imaging_quality": (0.56, 0.62),
        "appearance_style": (0.23, 0.23),
    },
}

# Our fixed request set: two per task, inputs by name ("photo", "clip1", "clip2" are made by make_media).
REQUESTS: dict[str, list[dict[str, str | float]]] = {
    "text_to_video": [
        {"prompt": "a red kite flying over a green hill on a windy day"},
        {"prompt": "a paper boat drifting down a rainy street gutter"},
    ],
    "image_to_video": [
        {"prompt": "she turns her head and smiles", "image": "photo"},
        {"prompt": "the camera slowly zooms in on her helmet", "image": "photo"},
    ],
    "extend_video": [{"video": "clip1"}, {"video": "clip2"}],
    "edit_video": [
        {"video": "clip1", "prompt": "make it snowy"},
        {"video": "clip2", "prompt": "turn it into a watercolour painting"},
    ],
    "connect_videos": [{"video": "clip1", "video2": "clip2"}, {"video": "clip2", "video2": "clip1"}],
    "digital_world": [
        {"prompt": "a lighthouse on a cliff at dusk"},
        {"prompt": "a fox running through a snowy forest"},
    ],
}

EVAL_PROMPTS = {"extend_video": "a slow pan across the face of a tabby cat"}
"""Text for the text-conditioned metrics of tasks whose request has no prompt (extend_video's Temporal Style)."""

FPS = 8  # the tiny profile's frame rate: clips made at it keep their frame counts
SMOKE = {"quick": True, "tasks": ("text_to_video", "connect_videos")}
"""The smallest run (``--smoke``, ``run.py --smoke``): a task from text and one from two input clips, one request
each; it checks the benchmark works, its figures mean little."""


def make_media(folder: Path) -> dict[str, Path]:
    """A photo (scikit-image's astronaut) and two one-second pans over its cat photo, as MP4."""
    import numpy as np
    import skimage.data
    from PIL import Image

    from mora_agents.media import VideoFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / "astronaut.png"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    cat = skimage.data.chelsea()
    media = {"photo": photo}
    for name, offset in (("clip1", 0), ("clip2", 120)):
        path = folder / f"{name}.mp4"
        with VideoFileWriter(path, fps=FPS) as writer:
            for i in range(FPS):
                crop = cat[40 : 40 + 192, offset + 8 * i : offset + 8 * i + 288]
                writer.append(np.asarray(Image.fromarray(crop).resize((96, 64))))
        media[name] = path
    return media


def run_one(task: str, inputs: dict, media: dict[str, Path], out: Path, profile: str, duration: float) -> Path:
    """Run one request through its SOP (auto review) and return the run folder."""
    from mora_agents.messages import VideoRequest
    from mora_agents.sop import find_sop
    from mora_agents.studio import StudioConfig, run_task

    spec = find_sop(task)
    values = {key: str(media[value]) if value in media else value for key, value in inputs.items()}
    if "duration" in spec.inputs and task != "edit_video":  # an edit keeps its input's length
        values.setdefault("duration", duration)
    request = VideoRequest(task=spec.name, inputs=values)
    workspace, manifest = run_task(spec, request, out, StudioConfig(profile=profile, review="auto"))
    if manifest.status != "completed":
        raise RuntimeError(f"{task} run {workspace.root} ended {manifest.status}: {manifest.error}")
    return workspace.root


def benchmark(
    quick: bool, profile: str, metrics_profile: str, out: Path, tasks: tuple[str, ...] = tuple(REQUESTS)
) -> dict:
    """Run and score ``tasks`` (default: every task); returns ``{task: {"runs": [...], "metrics": {name: {...}}}}``."""
    from mora_agents.evaluation.evaluate import evaluate_run

    media = make_media(out / "media")
    duration = 1.0 if quick else 2.0
    results: dict = {}
    for task in tasks:
        requests = REQUESTS[task]
        requests = requests[:1] if quick else requests
        runs, scores, seconds = [], {}, {"generate": 0.0, "evaluate": 0.0}
        for inputs in requests:
            start = time.perf_counter()
            run_dir = run_one(task, inputs, media, out / "runs", profile, duration)
            seconds["generate"] += time.perf_counter() - start
            start = time.perf_counter()
            record = evaluate_run(run_dir, metrics_profile=metrics_profile, prompt=EVAL_PROMPTS.get(task))
            seconds["evaluate"] += time.perf_counter() - start
            runs.append(str(run_dir))
            for name, metric in record.metrics.items():
                scores.setdefault(name, {"values": [], "reasons": [], "method": metric.method})
                if metric.value is not None:
                    scores[name]["values"].append(metric.value)
                else:
                    scores[name]["reasons"].append(metric.reason)
        metrics = {
            name: {
                "mean": statistics.fmean(s["values"]) if s["values"] else None,
                "n": len(s["values"]),
                "reason": s["reasons"][0] if s["reasons"] else None,
                "method": s["method"],
                "paper_mora": PAPER[task].get(name, (None, None))[0],
                "paper_sora": PAPER[task].get(name, (None, None))[1],
            }
            for name, s in scores.items()
        }
        results[task] = {"runs": runs, "metrics": metrics, "seconds": seconds}
    return results


def measure(
    quick: bool = False,
    profile: str = "tiny",
    metrics_profile: str = "tiny",
    tasks: tuple[str, ...] = tuple(REQUESTS),
    out: Path | None = None,
) -> dict:
    """:func:`benchmark` in ``out`` (default: a temporary folder, removed after); returns ``{"quality_means": {task:
    {metric: our mean}}, "raw": {..., "tasks": what benchmark returned}}``."""
    with tempfile.TemporaryDirectory(prefix="mora-quality-") as scratch:
        results = benchmark(quick, profile, metrics_profile, out or Path(scratch), tasks)
    means = {task: {name: m["mean"] for name, m in r["metrics"].items()} for task, r in results.items()}
    raw = {"profile": profile, "metrics_profile": metrics_profile, "quick": quick, "tasks": results}
    return {"quality_means": means, "raw": raw}


def report(result: dict) -> None:
    raw = result["raw"]
    print_tables(raw["tasks"], raw["profile"], raw["metrics_profile"])


def print_tables(results: dict, profile: str, metrics_profile: str) -> None:
    """One table per task: the paper's metrics first (in its column order), then the weight-free extras."""
    from mora_agents.evaluation.selection import NOT_COMPUTED

    for task, result in results.items():
        order = [*PAPER[task], *(name for name in result["metrics"] if name not in PAPER[task])]
        rows = []
        for name in order:
            metric = result["metrics"].get(name)
            if metric is None and name in NOT_COMPUTED:
                # The paper's figure stays beside an empty "ours", so the gap is visible rather than the row gone.
                metric = {"mean": None, "n": 0, "reason": "not computed: MUSIQ needs pyiqa, pyiqa torchvision"}
                metric["paper_mora"], metric["paper_sora"] = PAPER[task][name]
            if metric is None:
                continue
            if metric["mean"] is None:
                note = (metric["reason"] or "")[:70]
            elif name == "video_quality":
                note = "5 of the paper's 6 dimensions: not comparable"
            else:
                note = ""
            rows.append(
                {
                    "metric": name,
                    f"ours ({profile})": metric["mean"],
                    "n": metric["n"],
                    "Mora (OSP), paper": metric["paper_mora"],
                    "Sora, paper": metric["paper_sora"],
                    "note": note,
                }
            )
        table = "Table 1" if task == "text_to_video" else "Table 2"
        timing = result["seconds"]
        print_table(
            f"{task} ({table}; metrics profile {metrics_profile}; {len(result['runs'])} runs, "
            f"generate {timing['generate']:.1f} s, evaluate {timing['evaluate']:.1f} s)",
            rows,
            ["metric", f"ours ({profile})", "n", "Mora (OSP), paper", "Sora, paper", "note"],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one request per task, 1 s videos")
    parser.add_argument("--profile", default="tiny", help="model profile for the runs (default: tiny)")
    parser.add_argument("--metrics-profile", default="tiny", help="metrics profile (default: tiny)")
    parser.add_argument("--out", type=Path, help="folder for media and runs (default: a temporary folder)")
    parser.add_argument("--tasks", nargs="+", default=list(REQUESTS), choices=list(REQUESTS), help="default: all")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    add_smoke_flag(parser, SMOKE)
    args = parser.parse_args()

    from mora_agents.errors import MoraError

    try:
        if args.smoke:
            result = measure(**SMOKE, out=args.out)
        else:
            result = measure(args.quick, args.profile, args.metrics_profile, tuple(args.tasks), args.out)
    except MoraError as error:
        sys.exit(f"error: {error}")
    publish(result, report, args.json)


if __name__ == "__main__":
    main()
