"""`mora serve` for real: a live uvicorn server on 127.0.0.1 (tiny profile), the real `openai` SDK's
`client.videos` and httpx as clients; human review from a second client; server-sent events; kill -9."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from live_server import Server, serving, sha256, wait
from PIL import Image

from mora_agents.media import iter_frames


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from serving(tmp_path_factory, "serve", "--max-request-mb", "2")


@pytest.fixture
def client(server) -> openai.OpenAI:
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # the SDK marks the Sora API deprecated
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="not-checked-on-loopback", max_retries=0)


# -- the OpenAI Videos API through the real SDK -------------------------------------------------------------------


@pytest.mark.slow
def test_every_videos_endpoint_through_the_openai_sdk(client, server, tmp_path):
    # A job on the device (cancelled once the check below is done) keeps the video queued behind it.
    blocker = _job(server, task="text_to_video", inputs={"prompt": "a long wait", "duration": 4})
    wait(lambda: _get(server, blocker["id"]), lambda j: j["status"] == "running")
    video = client.videos.create(prompt="a red kite over a green hill", seconds="1", model="sora-2")
    assert video.object == "video" and video.status == "queued" and video.model == "tiny"
    assert video.prompt == "a red kite over a green hill" and video.seconds == "1" and video.size == "64x64"
    # Not finished: no content yet, as an error the SDK raises (409).
    assert client.videos.retrieve(video.id).status == "queued"
    with pytest.raises(openai.ConflictError, match="no content"):
        client.videos.download_content(video.id)
    assert _get(server, blocker["id"])["status"] == "running", "the video was queued behind it all along"
    assert httpx.post(f"{server.url}/mora/v1/jobs/{blocker['id']}/cancel", timeout=30).json()["status"] == "cancelled"
    done = client.videos.poll(video.id, poll_interval_ms=200)
    assert done.status == "completed" and done.progress == 100 and done.completed_at >= done.created_at
    mp4 = client.videos.download_content(done.id).read()
    assert mp4[4:8] == b"ftyp"
    (tmp_path / "a.mp4").write_bytes(mp4)
    frames = len(list(iter_frames(tmp_path / "a.mp4")))
    thumb = client.videos.download_content(done.id, variant="thumbnail").read()
    sheet = client.videos.download_content(done.id, variant="spritesheet").read()
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP" and sheet[:2] == b"\xff\xd8"

    # An extension is the input plus the new seconds. (The SDK sends `video` only as a file: its extract_files
    # refuses the {"id": ...} reference the API documents, so that form is sent with httpx below.)
    started = client.videos.extend(video=(tmp_path / "a.mp4").open("rb"), prompt="", seconds="1")
    extended = client.videos.poll(started.id, poll_interval_ms=200)
    assert extended.status == "completed", extended.error
    (tmp_path / "b.mp4").write_bytes(client.videos.download_content(extended.id).read())
    assert len(list(iter_frames(tmp_path / "b.mp4"))) > frames
    remix = client.videos.poll(client.videos.remix(done.id, prompt="at night").id, poll_interval_ms=200)
    assert remix.status == "completed" and remix.remixed_from_video_id == done.id
    form = {"video[id]": done.id, "prompt": "make it snowy"}
    queued = httpx.post(f"{server.url}/v1/videos/edits", data=form, timeout=30).json()
    edited = client.videos.poll(queued["id"], poll_interval_ms=200)
    assert edited.status == "completed" and edited.remixed_from_video_id is None

    # An image reference: image_to_video, from an upload.
    photo = tmp_path / "photo.png"
    Image.new("RGB", (80, 60), (20, 120, 200)).save(photo)
    # A size beyond the tiny profile's 64x64 pixels is fitted keeping its aspect ratio, and the response says so.
    animated = client.videos.create(
        prompt="the sea moves", seconds="1", input_reference=photo.open("rb"), size="1280x720"
    )
    assert animated.size == "80x48"
    assert client.videos.poll(animated.id, poll_interval_ms=200).status == "completed"
    (tmp_path / "c.mp4").write_bytes(client.videos.download_content(animated.id).read())
    assert {frame.shape[:2] for _, frame in iter_frames(tmp_path / "c.mp4")} == {(48, 80)}

    # list pages with after / limit / order; delete, then 404.
    ids = [v.id for v in client.videos.list(order="asc", limit=2)]
    assert ids[:2] == [done.id, extended.id] and len(ids) == 5  # the SDK follows has_more to the end
    page = client.videos.list(order="desc", limit=2)
    assert page.has_more and [v.id for v in page.data] == [animated.id, edited.id]
    deleted = client.videos.delete(animated.id)
    assert deleted.deleted and deleted.object == "video.deleted"
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(animated.id)
    assert not (server.workspace / "runs" / animated.id).exists()


def test_bad_requests_get_openai_shaped_4xx_errors(client, server):
    with pytest.raises(openai.BadRequestError, match="seconds must be a number of seconds") as caught:
        client.videos.create(prompt="a fox", seconds="soon")
    assert caught.value.body["message"].startswith("seconds must be")  # the SDK unwraps {"error": {...}}
    with pytest.raises(openai.NotFoundError, match="no video video_nope"):
        client.videos.remix("video_nope", prompt="x")
    with pytest.raises(openai.BadRequestError, match="input_reference"):
        client.videos.create(prompt="a fox", seconds="1", input_reference=("fake.png", b"not an image", "image/png"))
    with pytest.raises(openai.BadRequestError, match="size must be WIDTHxHEIGHT"):
        client.videos.create(prompt="a fox", seconds="1", size="huge")  # type: ignore[arg-type]
    # A server started without judges refuses a judge-reviewed job in one sentence.
    refused = httpx.post(f"{server.url}/mora/v1/jobs", json={"task": "text_to_video", "review": "judge",
                                                              "inputs": {"prompt": "a fox"}})  # fmt: skip
    assert refused.status_code == 400 and "--judge metric" in refused.json()["error"]["message"]
    response = httpx.post(f"{server.url}/v1/videos", data={"seconds": "1"})
    assert response.status_code == 400 and response.json()["error"]["message"] == "prompt is required"


# -- mora's own API: human review from another client, events, cancel, queue order ---------------------------------


def _job(server, **body) -> dict:
    response = httpx.post(f"{server.url}/mora/v1/jobs", json=body, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _get(server, job_id: str) -> dict:
    return httpx.get(f"{server.url}/mora/v1/jobs/{job_id}", timeout=30).json()


def _events(server, job_id: str) -> list[dict]:
    """A finished job's events as its stream replays them (the stream ends with the job's status, left out)."""
    with httpx.stream("GET", f"{server.url}/mora/v1/jobs/{job_id}/events", timeout=30) as stream:
        lines = [line[5:] for line in stream.iter_lines() if line.startswith("data:")]
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.slow
def test_a_person_reviews_a_job_from_another_client_and_events_arrive_in_order(server):
    job = _job(server, task="text_to_video", inputs={"prompt": "a lighthouse at dusk", "duration": 0.5}, seed=4,
               review="human")  # fmt: skip
    # A second client (this test, over HTTP) answers each review the job waits for.
    decisions = iter(["regenerate", "accept", "accept"])
    answered = []
    while True:
        state = wait(lambda: _get(server, job["id"]), lambda j: j["status"] in ("awaiting_review", "completed",
                                                                                  "failed"))  # fmt: skip
        if state["status"] != "awaiting_review":
            break
        waiting = state["waiting_for"]
        # The first frame takes an edit (A1 revises its prompt); the animation only accept or regenerate.
        assert waiting["allowed"] == (["accept", "regenerate", "edit"] if waiting["stage"] == "first_frame"
                                      else ["accept", "regenerate"])  # fmt: skip
        action = next(decisions)
        answered.append((waiting["stage"], waiting["iteration"], action))
        response = httpx.post(f"{server.url}/mora/v1/jobs/{job['id']}/review", json={"action": action}, timeout=30)
        assert response.status_code == 200, response.text
    assert state["status"] == "completed", state["error"]
    assert answered == [("first_frame", 1, "regenerate"), ("first_frame", 2, "accept"), ("animate", 1, "accept")]
    manifest = json.loads((server.workspace / "runs" / job["id"] / "manifest.json").read_text())
    frame = next(stage for stage in manifest["stages"] if stage["id"] == "first_frame")
    assert [it["decision"]["action"] for it in frame["iterations"]] == ["regenerate", "accept"]
    assert {it["decision"]["by"] for it in frame["iterations"]} == {"http"}
    # The event stream replays the whole run, in order, and ends.
    with httpx.stream("GET", f"{server.url}/mora/v1/jobs/{job['id']}/events", timeout=30) as stream:
        lines = [line for line in stream.iter_lines() if line.startswith("data:")]
    events = [json.loads(line[5:]) for line in lines[:-1]]
    kinds = [e["type"] for e in events]
    assert lines[-1] == "data: completed" and kinds[-1] == "run_finished"
    reviews = [(e["type"], e.get("decision", {}).get("action")) for e in events if e["type"].startswith("review")]
    asked, decided = ("review_requested", None), "review_decided"
    assert reviews == [asked, (decided, "regenerate"), asked, (decided, "accept"), asked, (decided, "accept")]
    assert kinds.index("stage_started") < kinds.index("artifact_ready") < kinds.index("review_requested")
    # Files come from the run folder only: a path out of it is not found.
    assert httpx.get(f"{server.url}/mora/v1/jobs/{job['id']}/files/video.mp4").content[4:8] == b"ftyp"
    for sneaky in ("../../jobs.sqlite", "%2e%2e/%2e%2e/jobs.sqlite", "/etc/passwd", "..%2f..%2fjobs.sqlite"):
        assert httpx.get(f"{server.url}/mora/v1/jobs/{job['id']}/files/{sneaky}").status_code == 404, sneaky


@pytest.mark.slow
def test_jobs_queue_behind_the_running_one_and_cancel_works_queued_or_waiting(server):
    waiting = _job(server, task="text_to_video", inputs={"prompt": "a kite", "duration": 0.5}, review="human")
    wait(lambda: _get(server, waiting["id"]), lambda j: j["status"] == "awaiting_review")
    # While it waits for a person it holds no device: the next jobs run, one at a time, in order.
    first = _job(server, task="text_to_video", inputs={"prompt": "a boat", "duration": 0.5})
    second = _job(server, task="text_to_video", inputs={"prompt": "a tram", "duration": 0.5})
    third = _job(server, task="text_to_video", inputs={"prompt": "a crane", "duration": 0.5})
    # The third, behind two runs of seconds each, is cancelled while it waits for the device.
    cancelled = httpx.post(f"{server.url}/mora/v1/jobs/{third['id']}/cancel", timeout=30).json()
    assert cancelled["status"] == "cancelled"
    done = [wait(lambda j=j: _get(server, j["id"]), lambda j: j["status"] in ("completed", "failed"))
            for j in (first, second)]  # fmt: skip
    assert [j["status"] for j in done] == ["completed", "completed"]
    assert done[0]["completed_at"] <= done[1]["completed_at"]
    # One at a time, in order: the second job's first event comes after the first job's last (the server's clock).
    first_events, second_events = _events(server, first["id"]), _events(server, second["id"])
    assert first_events[-1]["type"] == "run_finished"
    assert first_events[-1]["time"] <= second_events[0]["time"], (first_events[-1], second_events[0])
    # The cancelled one never started: no run folder, no event.
    never = _get(server, third["id"])
    assert (never["status"], never["files"], _events(server, third["id"])) == ("cancelled", [], [])
    # And the job waiting for a person waited through all of it.
    assert _get(server, waiting["id"])["status"] == "awaiting_review"
    # Cancelling the job that waits for its review ends it.
    assert httpx.post(f"{server.url}/mora/v1/jobs/{waiting['id']}/cancel").json()["status"] == "cancelled"
    assert wait(lambda: _get(server, waiting["id"]), lambda j: j["status"] == "cancelled")
    assert httpx.delete(f"{server.url}/mora/v1/jobs/{waiting['id']}").json()["deleted"]
    assert httpx.get(f"{server.url}/mora/v1/jobs/{waiting['id']}").status_code == 404


def test_uploads_are_checked_by_content_and_size_and_paths_stay_in_the_workspace(server, tmp_path):
    fake = httpx.post(f"{server.url}/mora/v1/uploads", data={"kind": "image"},
                      files={"file": ("photo.png", b"<html>not a png</html>", "image/png")})  # fmt: skip
    assert fake.status_code == 400 and "photo.png" in fake.json()["error"]["message"]
    big = httpx.post(f"{server.url}/mora/v1/uploads", data={"kind": "image"},
                     files={"file": ("big.png", b"0" * (3 * 1024 * 1024), "image/png")})  # fmt: skip
    assert big.status_code == 413 and "limit" in big.json()["error"]["message"]
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(photo)
    ok = httpx.post(f"{server.url}/mora/v1/uploads", data={"kind": "image"},
                    files={"file": ("p.png", photo.read_bytes(), "image/png")})  # fmt: skip
    assert ok.status_code == 200 and ok.json()["path"].startswith("uploads/")
    outside = httpx.post(
        f"{server.url}/mora/v1/jobs",
        json={"task": "image_to_video", "inputs": {"image": "../../../etc/hostname", "prompt": "x"}},
    )
    assert outside.status_code == 400 and "outside the server's workspace" in outside.json()["error"]["message"]


# -- restarts and keys ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_mid_stage_then_restart_finishes_with_the_same_files(server, tmp_path):
    body = {"task": "text_to_video", "inputs": {"prompt": "a paper boat on a pond", "duration": 2}, "seed": 9}
    # The uninterrupted run, on the module's server (its own process and workspace).
    job = _job(server, **body)
    wait(lambda: _get(server, job["id"]), lambda j: j["status"] == "completed")
    expected = sha256(server.workspace / "runs" / job["id"] / "video.mp4")
    crashing = Server(tmp_path / "crashing").start()
    job = _job(crashing, **body)
    # Killed once the first frame is made, while the next stage runs.
    wait(lambda: httpx.get(f"{crashing.url}/mora/v1/jobs/{job['id']}").json(),
         lambda j: "first_frame.png" in j["files"], every=0.05)  # fmt: skip
    crashing.kill()
    # It died unfinished: the run folder the dead server left has no video and a manifest that says running.
    left = tmp_path / "crashing" / "runs" / job["id"]
    manifest = json.loads((left / "manifest.json").read_text())
    completed = [stage["id"] for stage in manifest["stages"] if stage["status"] == "completed"]
    assert manifest["status"] == "running" and "animate" not in completed, manifest
    assert not (left / "video.mp4").exists()
    restarted = Server(tmp_path / "crashing").start()
    try:
        done = wait(lambda: _get(restarted, job["id"]), lambda j: j["status"] in ("completed", "failed"))
        assert done["status"] == "completed", done["error"]
        assert sha256(restarted.workspace / "runs" / job["id"] / "video.mp4") == expected
        manifest = json.loads((restarted.workspace / "runs" / job["id"] / "manifest.json").read_text())
        assert manifest["status"] == "completed"
    finally:
        restarted.stop()


ACCEPTS_ALL = "metric:motion_smoothness=1,threshold=-100"
REJECTS_ALL = "metric:motion_smoothness=1,threshold=1.5"


@pytest.fixture(scope="module")
def judged(tmp_path_factory) -> Iterator[Server]:
    """A server with a judge panel that always disagrees; the crash test (after the judge test) kills it once."""
    yield from serving(tmp_path_factory, "judged", "--review", "judge", "--judge", ACCEPTS_ALL, "--judge", REJECTS_ALL)


@pytest.mark.slow
def test_a_judge_panel_reviews_jobs_and_its_ties_come_to_a_person_over_http(judged):
    """Two judges that always disagree: a job's ties wait for a person over HTTP; a Videos API job, which nobody
    reviews, has its ties accepted."""
    server = judged
    job = _job(server, task="text_to_video", inputs={"prompt": "a kite", "duration": 0.5}, review="judge")
    state, ties = accept_every_review(server, job["id"])
    assert state["status"] == "completed", state["error"]
    manifest = json.loads((server.workspace / "runs" / job["id"] / "manifest.json").read_text())
    animate = next(stage for stage in manifest["stages"] if stage["id"] == "animate")
    decision = animate["iterations"][-1]["decision"]
    assert decision["votes"]["outcome"] == "disagreed" and decision["by"] == "human after judges disagreed"
    assert ties >= 1

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    videos = openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0).videos
    done = videos.poll(videos.create(prompt="a boat", seconds="1").id, poll_interval_ms=200)
    assert done.status == "completed", done.error
    manifest = json.loads((server.workspace / "runs" / done.id / "manifest.json").read_text())
    animate = next(stage for stage in manifest["stages"] if stage["id"] == "animate")
    assert animate["iterations"][-1]["decision"]["votes"]["outcome"] == "disagreed"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the server's child through Linux's /proc")
def test_a_native_crash_fails_the_device_job_only_and_the_server_comes_back(judged):
    """The server process gets SIGSEGV (as from a crash in native code) while one job runs and another waits for a
    person: the supervisor restarts it, the running job fails with the crash named, the waiting one goes on."""
    server = judged
    (child,) = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    waiting = _job(server, task="text_to_video", inputs={"prompt": "a kite", "duration": 0.5}, review="human")
    wait(lambda: _get(server, waiting["id"]), lambda j: j["status"] == "awaiting_review")
    running = _job(server, task="text_to_video", inputs={"prompt": "a tram at night", "duration": 1})
    wait(lambda: _get(server, running["id"]), lambda j: j["progress"] > 0 or j["status"] != "running", every=0.05)
    assert _get(server, running["id"])["status"] == "running"
    os.kill(int(child), signal.SIGSEGV)
    failed = wait(lambda: _get_quietly(server, running["id"]), lambda j: j and j["status"] == "failed")
    assert "crashed the server (SIGSEGV" in failed["error"] and "mora doctor" in failed["error"]
    manifest = json.loads((server.workspace / "runs" / running["id"] / "manifest.json").read_text())
    assert manifest["status"] == "failed" and "SIGSEGV" in manifest["error"]
    # The job that waited for a person is waiting again, in a new server process, and finishes.
    (restarted,) = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()
    assert restarted != child
    state, _ = accept_every_review(server, waiting["id"])
    assert state["status"] == "completed", state["error"]
    assert "restarting mora serve" in server.tail()


def accept_every_review(server, job_id: str) -> tuple[dict, int]:
    """Accept each review the job waits for, once each, until it finishes; its last state and the reviews."""
    answered: set[tuple] = set()

    def new_review_or_done(job: dict) -> bool:
        asks = job["waiting_for"] and (job["waiting_for"]["stage"], job["waiting_for"]["iteration"])
        return job["status"] in ("completed", "failed", "cancelled") or (bool(asks) and asks not in answered)

    while (state := wait(lambda: _get(server, job_id), new_review_or_done))["status"] == "awaiting_review":
        answered.add((state["waiting_for"]["stage"], state["waiting_for"]["iteration"]))
        httpx.post(f"{server.url}/mora/v1/jobs/{job_id}/review", json={"action": "accept"}, timeout=30)
    return state, len(answered)


def _get_quietly(server, job_id: str) -> dict | None:
    try:
        return httpx.get(f"{server.url}/mora/v1/jobs/{job_id}", timeout=5).json()
    except httpx.HTTPError:
        return None  # down while it restarts


def test_a_non_loopback_bind_needs_an_api_key_and_enforces_it(tmp_path):
    refused = subprocess.run([sys.executable, "-m", "mora_agents.cli", "serve", "--host", "0.0.0.0",
                              "--workspace", str(tmp_path / "w")], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "MORA_API_KEY": ""})  # fmt: skip
    assert refused.returncode == 2 and "give --api-key" in refused.stderr and "Traceback" not in refused.stderr
    keyed = Server(tmp_path / "keyed", "--api-key", "s3cret", host="127.0.0.2").start()
    try:
        assert httpx.get(f"{keyed.url}/v1/videos").status_code == 401
        assert httpx.get(f"{keyed.url}/v1/videos", headers={"Authorization": "Bearer wrong"}).status_code == 401
        sdk = openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="s3cret", max_retries=0)
        assert list(sdk.videos.list()) == []
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{keyed.url}/v1", api_key="nope", max_retries=0).videos.list()
        assert httpx.get(f"{keyed.url}/openapi.json").json()["info"]["title"] == "mora"
    finally:
        keyed.stop()


@pytest.mark.slow
def test_a_chat_session_over_http_routes_through_the_director_and_runs_each_turn_as_a_job(server):
    session = httpx.post(f"{server.url}/mora/v1/sessions", json={"name": "kites"}).json()
    turns = f"{server.url}/mora/v1/sessions/{session['id']}/turns"

    def say(text: str) -> dict:
        answer = httpx.post(turns, json={"text": text}, timeout=120).json()
        if answer.get("job"):
            done = wait(lambda: _get(server, answer["job"]["id"]), lambda j: j["status"] in ("completed", "failed"))
            assert done["status"] == "completed", done["error"]
        return answer

    first = say("a red kite over a green hill, 1 second")
    assert first["explanation"] == 'make a new video of 1 s: "a red kite over a green hill"'
    edit = say("make the kite one snowy")
    assert edit["explanation"] == 'edit clip 1 (a red kite over a green hill): "make the kite one snowy"'
    # Two clips show a kite now: the director asks, listing both, and runs nothing.
    asked = say("extend the kite clip")
    assert asked["status"] == "asked" and asked["candidates"] == [1, 2] and asked["job"] is None
    # A file given to the session is its next artifact; the next turn points at it by what it shows.
    photo = io.BytesIO()
    Image.new("RGB", (80, 60), (20, 120, 200)).save(photo, "PNG")
    given = httpx.post(f"{server.url}/mora/v1/sessions/{session['id']}/uploads",
                       data={"kind": "image", "description": "a photo of a harbour at noon"},
                       files={"file": ("harbour.png", photo.getvalue())})  # fmt: skip
    assert given.status_code == 200 and given.json()["index"] == 3 and given.json()["task"] == "input"
    fake = httpx.post(f"{server.url}/mora/v1/sessions/{session['id']}/uploads", data={"kind": "image"},
                      files={"file": ("x.png", b"GIF89a not really")})  # fmt: skip
    assert fake.status_code == 400 and "x.png" in fake.json()["error"]["message"]
    animated = say("animate the harbour photo, 1 second")
    assert animated["explanation"].startswith("animate image 1 (a photo of a harbour at noon)"), animated
    record = httpx.get(f"{server.url}/mora/v1/sessions/{session['id']}").json()
    assert [t["status"] for t in record["turns"]] == ["completed", "completed", "asked", "completed", "completed"]
    assert [a["sources"] for a in record["artifacts"]] == [[], [1], [], [3]]
    listed = httpx.get(f"{server.url}/mora/v1/sessions").json()
    assert {"id": session["id"], "turns": 5, "artifacts": 4}.items() <= next(
        s for s in listed if s["id"] == session["id"]
    ).items()
    # The session's stream tells all of it, in order: each turn, the upload, every event of each turn's job.
    seen: list[tuple[str, dict]] = []
    with httpx.stream("GET", f"{server.url}/mora/v1/sessions/{session['id']}/events", timeout=30) as stream:
        name = ""
        for line in stream.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                seen.append((name, json.loads(line[5:])))
                if name == "studio" and seen[-1][1]["turn"] == 5 and seen[-1][1]["event"]["type"] == "run_finished":
                    break  # the stream stays open: a session has no end
    story = [(n, e.get("turn") or e.get("artifact", {}).get("turn"), e.get("status")) for n, e in seen if n != "studio"]
    assert story == [("turn", 1, "queued"), ("turn", 2, "queued"), ("turn", 3, "asked"), ("input", 4, None),
                     ("turn", 5, "queued")]  # fmt: skip
    finished = [e["job"] for n, e in seen if n == "studio" and e["event"]["type"] == "run_finished"]
    assert finished == [first["job"]["id"], edit["job"]["id"], animated["job"]["id"]]
    assert [n for n, _ in seen].index("studio") == 1  # turn 1's job events come before turn 2
    # The same folder `mora chat --resume` continues.
    assert (server.workspace / "sessions" / session["id"] / "session.json").is_file()
