"""Peak memory of A4 for a short and a long video: frames stream to disk, so the peak should not grow.

Each duration runs in a fresh process (peak RSS is per process). The first frame is drawn by A2 first,
then A4 chains segments into a streamed MP4.

    python benchmarks/long_video_memory.py [--profile tiny] [--durations 4 60] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import add_smoke_flag, emit, peak_cuda_mib, peak_rss_mib, print_table, run_child  # noqa: E402

SMOKE = {"profile": "tiny", "durations": (1.0,)}
"""The smallest run (``--smoke``, ``run.py --smoke``): one short video, so the ratio is 1 by construction; it checks the
benchmark works, its figures mean nothing."""


def child(profile_name: str, seconds: float) -> None:
    from mora_agents.media import VideoFileWriter
    from mora_tools.loading.profiles import load_profile
    from mora_tools.pipelines.image_to_video import ImageToVideoTool
    from mora_tools.pipelines.text_to_image import TextToImageTool

    profile = load_profile(profile_name)
    image = TextToImageTool.from_profile(profile)("a river through a forest", seed=0).image
    tool = ImageToVideoTool.from_profile(profile)
    before = peak_rss_mib()
    frames = round(seconds * tool.settings.fps)
    out = Path(tempfile.mkdtemp(prefix="mora-long-")) / "video.mp4"
    started = time.perf_counter()
    with VideoFileWriter(out, fps=tool.settings.fps) as writer:
        result = tool(image, num_frames=frames, seed=0, on_frame=writer.append)
    wall = round(time.perf_counter() - started, 2)
    emit({"seconds_of_video": seconds, "frames": result.num_frames, "segments": result.segments, "wall_s": wall,
          "peak_rss_mib_before_video": before, "peak_rss_mib": peak_rss_mib(), "peak_cuda_mib": peak_cuda_mib(),
          "mp4_bytes": out.stat().st_size})  # fmt: skip


def measure(profile: str = "tiny", durations: tuple[float, ...] = (4.0, 60.0)) -> dict:
    runs = [run_child("long_video_memory.py", "--child", str(s), "--profile", profile) for s in durations]
    short, long = runs[0], runs[-1]
    return {
        "long_video_mem_ratio": round(long["peak_rss_mib"] / short["peak_rss_mib"], 3),
        "raw": {"profile": profile, "runs": runs},
    }


def report(result: dict) -> None:
    raw = result["raw"]
    rows = [{"video s": r["seconds_of_video"], "frames": r["frames"], "segments": r["segments"], "wall s": r["wall_s"],
             "RSS before video MiB": r["peak_rss_mib_before_video"], "peak RSS MiB": r["peak_rss_mib"]}
            for r in raw["runs"]]  # fmt: skip
    print_table(f"long video memory ({raw['profile']}; ratio {result['long_video_mem_ratio']})", rows, list(rows[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--durations", type=float, nargs="+", default=[4.0, 60.0])
    add_smoke_flag(parser, SMOKE)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.profile, args.child)
        return
    result = measure(**SMOKE) if args.smoke else measure(args.profile, tuple(args.durations))
    report(result)
    emit(result)


if __name__ == "__main__":
    main()
