"""mora's own job API: run any task as a job and review each stage from this process, as a person would.

    mora serve &
    python examples/clients/review_client.py "a lighthouse at dusk"            # asks you at each stage
    python examples/clients/review_client.py "a lighthouse at dusk" --accept   # accepts everything

The job waits in ``awaiting_review`` at each reviewed stage until a decision is posted: from here, from
another program, or from a web page. Events arrive as server-sent events while it runs.
"""

from __future__ import annotations

import argparse
import json
import threading

import httpx


def follow(base: str, job_id: str) -> None:
    """Print the job's events as they come (GET /mora/v1/jobs/{id}/events)."""
    with httpx.stream("GET", f"{base}/mora/v1/jobs/{job_id}/events", timeout=None) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                if event["type"] not in ("step_progress",):
                    print(f"  event: {event['type']} {event.get('stage') or event.get('request', {}).get('stage', '')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--task", default="text_to_video")
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--accept", action="store_true", help="Accept every stage without asking.")
    args = parser.parse_args()
    client = httpx.Client(base_url=args.base, timeout=60)
    job = client.post("/mora/v1/jobs", json={"task": args.task, "inputs": {"prompt": args.prompt, "duration": 2},
                                            "review": "human"}).raise_for_status().json()  # fmt: skip
    print(f"job {job['id']} queued")
    threading.Thread(target=follow, args=(args.base, job["id"]), daemon=True).start()
    while True:
        job = client.get(f"/mora/v1/jobs/{job['id']}").json()
        if job["status"] in ("completed", "failed", "cancelled"):
            break
        waiting = job["waiting_for"]
        if waiting is None:
            threading.Event().wait(0.5)
            continue
        shown = waiting["artifact"].get("path") or waiting["artifact"].get("prompt")
        print(f"stage {waiting['stage']} #{waiting['iteration']}: {shown} (see /mora/v1/jobs/{job['id']}/files/)")
        answer = "accept" if args.accept else input(f"decision ({' | '.join(waiting['allowed'])})? ").strip()
        action, _, instruction = answer.partition(" ")
        body = {"action": action, "instruction": instruction or None}
        response = client.post(f"/mora/v1/jobs/{job['id']}/review", json=body)
        if response.status_code != 200:
            print(f"  refused: {response.json()['error']['message']}")
    print(f"job {job['id']}: {job['status']} {job['error'] or ''}")
    if job["status"] == "completed":
        print(f"video: {args.base}/mora/v1/jobs/{job['id']}/files/video.mp4")


if __name__ == "__main__":
    main()
