"""A program written for OpenAI's Videos API (Sora), pointed at mora by its base URL.

    mora serve &                                   # http://127.0.0.1:8000
    python examples/clients/sora_client.py "a red kite over a green hill" --out kite.mp4

Everything below is the plain ``openai`` SDK; only ``base_url`` says mora.
"""

from __future__ import annotations

import argparse
import warnings

from openai import OpenAI


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--api-key", default="none", help="The server's --api-key, if it has one.")
    parser.add_argument("--seconds", default="2")
    parser.add_argument("--out", default="video.mp4")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK marks Sora's own API as retired
    client = OpenAI(base_url=args.base_url, api_key=args.api_key)

    video = client.videos.create_and_poll(prompt=args.prompt, seconds=args.seconds, poll_interval_ms=500)
    print(f"{video.id}: {video.status} ({video.model}, {video.size}, {video.seconds} s)")
    if video.status != "completed":
        raise SystemExit(f"the video failed: {video.error.message if video.error else 'no reason given'}")
    client.videos.download_content(video.id).write_to_file(args.out)
    client.videos.download_content(video.id, variant="thumbnail").write_to_file(args.out + ".thumbnail.webp")
    remix = client.videos.remix(video.id, prompt="the same scene at night")
    remix = client.videos.poll(remix.id, poll_interval_ms=500)
    print(f"remix {remix.id} of {remix.remixed_from_video_id}: {remix.status}")
    print(f"wrote {args.out} and its thumbnail")


if __name__ == "__main__":
    main()
