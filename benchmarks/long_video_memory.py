"""Peak memory of A4 for a short and a long video: frames stream to disk, so the peak should not grow.

Each duration runs in a fresh process (peak RSS is per process). Prints a table and JSON.

    python benchmarks/long_video_memory.py [--profile tiny] [--durations 4 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from PIL import Image
from mora_agents.media import VideoFileWriter
from tools.image_to_video import ImageToVideoTool
from tools.profiles import load_profile
from tools.text_to_image import TextToImageTool

profile, seconds, out = load_profile(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
image = TextToImageTool.from_profile(profile)("a river", seed=0).image
tool = ImageToVideoTool.from_profile(profile)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
frames = round(seconds * tool.settings.fps)
started = time.perf_counter()
with VideoFileWriter(out, fps=tool.settings.fps) as writer:
    result = tool(image, num_frames=frames, seed=0, on_frame=writer.append)
elapsed = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds_of_video": seconds, "frames": result.num_frames, "segments": result.segments,
                  "wall_s": round(elapsed, 2), "peak_rss_mib_before_video": round(before / 1024, 1),
                  "peak_rss_mib": round(peak / 1024, 1), "mp4_bytes": out.stat().st_size}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--durations", type=float, nargs="+", default=[4.0, 60.0])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in args.durations:
            out = f"{folder}/v{seconds}.mp4"
            done = subprocess.run([sys.executable, "-c", CHILD, args.profile, str(seconds), out],
                                  capture_output=True, text=True, check=True)  # fmt: skip
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'video s':>8} {'frames':>7} {'segments':>8} {'wall s':>7} {'RSS before MiB':>15} {'peak RSS MiB':>13}")
    for row in rows:
        print(f"{row['seconds_of_video']:>8} {row['frames']:>7} {row['segments']:>8} {row['wall_s']:>7} "
              f"{row['peak_rss_mib_before_video']:>15} {row['peak_rss_mib']:>13}")  # fmt: skip
    print(json.dumps({"profile": args.profile, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
