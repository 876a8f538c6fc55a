"""What `mora serve` claims and no other test held it to, against one live server (tiny profile, 127.0.0.1, started
with an API key): the key on the job API, on its event streams and on the web page's login; `POST .../rerun` over
HTTP; `Last-Event-ID` resume; a running job cancelled; and, with a real child that crashes, the supervisor's rule that
a server crashing five times in ten minutes is left down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import httpx
import pytest
from live_server import Server, free_port, serving, sha256, wait
from PIL import Image

from mora_agents import crash_report
from mora_agents.supervisor import SERVE_CRASH_ENV, SERVE_RESTART_WINDOW_S, SERVE_RESTARTS

KEY = "claims-s3cret"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def keyed(tmp_path_factory) -> Iterator[Server]:
    """One server for the whole file, started with an API key (on loopback, where a key is optional but enforced)."""
    yield from serving(tmp_path_factory, "claims", "--api-key", KEY)


@pytest.fixture
def api(keyed) -> Iterator[httpx.Client]:
    """An httpx client that sends the key, as the OpenAI SDK and the example clients do."""
    with httpx.Client(base_url=keyed.url, headers=AUTH, timeout=30) as client:
        yield client


def sse(response: httpx.Response, stop=lambda event: False) -> list[dict]:
    """The server-sent events of a streamed response, each ``{"id", "event", "data"}``, until the stream ends or
    ``stop(event)`` holds for the last one (a session's stream never ends)."""
    events, current = [], {}
    for line in response.iter_lines():
        if not line:
            event, current = current, {}
            if event:
                events.append(event)
                if stop(event):
                    break
            continue
        field, _, value = line.partition(":")
        if field in ("id", "event", "data"):
            current[field] = value.removeprefix(" ")
    if current:
        events.append(current)
    return events


def finished_job(api: httpx.Client, **inputs) -> dict:
    job = api.post("/mora/v1/jobs", json={"task": "text_to_video", "inputs": {"duration": 0.5, **inputs}, "seed": 3})
    assert job.status_code == 200, job.text
    done = wait(lambda: api.get(f"/mora/v1/jobs/{job.json()['id']}").json(),
                lambda j: j["status"] in ("completed", "failed", "cancelled"))  # fmt: skip
    assert done["status"] == "completed", done["error"]
    return done


# -- the API key ---------------------------------------------------------------------------------------------------


def test_the_api_key_guards_the_job_api(keyed):
    fox = {"task": "text_to_video", "inputs": {"prompt": "a fox"}}
    for method, path, body in [("GET", "/mora/v1/jobs", None), ("GET", "/mora/v1/sessions", None),
                               ("POST", "/mora/v1/jobs", fox)]:  # fmt: skip
        url = keyed.url + path
        bare = httpx.request(method, url, json=body)
        assert bare.status_code == 401, (path, bare.text)
        assert bare.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.request(method, url, json=body, headers={"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 401, (path, wrong.text)
        assert httpx.request(method, url, json=body, headers={"Authorization": KEY}).status_code == 401  # no Bearer
    # The refused POST made no job; with the key the same calls answer.
    listed = httpx.get(f"{keyed.url}/mora/v1/jobs", headers=AUTH)
    assert listed.status_code == 200 and all(j["request"]["inputs"].get("prompt") != "a fox" for j in listed.json())
    assert httpx.get(f"{keyed.url}/mora/v1/sessions", headers=AUTH).status_code == 200
    assert httpx.get(f"{keyed.url}/healthz").status_code == 200  # the health check is open


def test_the_api_key_guards_the_event_streams(keyed, api):
    job = finished_job(api, prompt="a paper boat on a pond")
    session = api.post("/mora/v1/sessions", json={"name": "streams"}).json()
    for path in (f"/mora/v1/jobs/{job['id']}/events", f"/mora/v1/sessions/{session['id']}/events"):
        with httpx.stream("GET", keyed.url + path, timeout=30) as bare:
            assert bare.status_code == 401, path
            assert json.loads(bare.read())["error"]["code"] == "invalid_api_key"
        with httpx.stream("GET", keyed.url + path, headers={"Authorization": "Bearer no"}, timeout=30) as wrong:
            assert wrong.status_code == 401, path
    with httpx.stream("GET", f"{keyed.url}/mora/v1/jobs/{job['id']}/events", headers=AUTH, timeout=30) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
        events = sse(stream)
    assert events[-1] == {"event": "end", "data": "completed"}
    assert json.loads(events[-2]["data"])["type"] == "run_finished"


def test_the_web_page_asks_for_the_same_key(keyed):
    # The page's data (its configuration, its queue) needs a login; the password is the API key, any user name.
    assert httpx.get(f"{keyed.url}/config").status_code == 401
    assert httpx.get(f"{keyed.url}/config", headers=AUTH).status_code == 401, "the page takes a login, not a header"
    refused = httpx.post(f"{keyed.url}/login", data={"username": "me", "password": "not-the-key"})
    assert refused.status_code == 400 and not refused.cookies
    for user in ("me", "someone else"):
        login = httpx.post(f"{keyed.url}/login", data={"username": user, "password": KEY})
        assert login.status_code == 200 and login.json() == {"success": True}
        config = httpx.get(f"{keyed.url}/config", cookies=login.cookies)
        assert config.status_code == 200
        labels = {component.get("props", {}).get("label") for component in config.json()["components"]}
        assert "Message" in labels, "the studio's chat box, shown once logged in"


# -- rerun and resume over HTTP -------------------------------------------------------------------------------------


def test_rerun_over_http_makes_the_stage_again_and_keeps_the_earlier_version(keyed, api):
    job = finished_job(api, prompt="a red kite over a green hill")
    folder = keyed.workspace / "runs" / job["id"]
    before = json.loads((folder / "manifest.json").read_text())
    stages = {stage["id"]: stage for stage in before["stages"]}
    old_animation = stages["animate"]["iterations"][-1]["output"]["path"]
    old_frame = stages["first_frame"]["iterations"][-1]["output"]["path"]
    old_sha, frame_sha = sha256(folder / old_animation), sha256(folder / old_frame)
    old_video = sha256(folder / "video.mp4")

    queued = api.post(f"/mora/v1/jobs/{job['id']}/rerun", json={"stage": "animate"})
    assert queued.status_code == 200, queued.text
    assert queued.json()["status"] == "queued" and queued.json()["completed_at"] is None
    # Only a finished job's stages are made again: the queued one refuses, in one sentence.
    again = api.post(f"/mora/v1/jobs/{job['id']}/rerun", json={"stage": "animate"})
    assert again.status_code == 400 and "only a finished job's stages can be made again" in again.text
    done = wait(lambda: api.get(f"/mora/v1/jobs/{job['id']}").json(),
                lambda j: j["status"] in ("completed", "failed", "cancelled"))  # fmt: skip
    assert done["status"] == "completed", done["error"]

    after = json.loads((folder / "manifest.json").read_text())
    assert after["status"] == "completed"
    (superseded,) = after["superseded"]
    assert superseded["id"] == "animate" and superseded["iterations"][-1]["output"]["path"] == old_animation
    stages = {stage["id"]: stage for stage in after["stages"]}
    new_animation = stages["animate"]["iterations"][-1]["output"]["path"]
    assert new_animation != old_animation, "a new file, not the old one written over"
    assert sha256(folder / old_animation) == old_sha, "the earlier version stays in the run folder"
    assert sha256(folder / new_animation) != old_sha, "made again with a new seed"
    assert sha256(folder / "video.mp4") != old_video
    # The stage before it is kept as it was.
    assert stages["first_frame"]["iterations"][-1]["output"]["path"] == old_frame
    assert sha256(folder / old_frame) == frame_sha
    # A stage the task does not have is named with the ones it has.
    unknown = api.post(f"/mora/v1/jobs/{job['id']}/rerun", json={"stage": "colour"})
    assert unknown.status_code == 400 and "has no stage 'colour'" in unknown.text and "animate" in unknown.text


def test_last_event_id_resumes_a_job_stream_after_that_event(keyed, api):
    job = finished_job(api, prompt="a lighthouse at dusk")
    url = f"/mora/v1/jobs/{job['id']}/events"
    with api.stream("GET", url) as stream:
        everything = sse(stream)
    studio = [event for event in everything if event.get("event") == "studio"]
    ids = [int(event["id"]) for event in studio]
    assert ids == list(range(1, len(ids) + 1)) and len(ids) > 6
    middle = ids[len(ids) // 2]
    with api.stream("GET", url, headers={"Last-Event-ID": str(middle)}) as stream:
        resumed = sse(stream)
    assert [int(event["id"]) for event in resumed[:-1]] == [i for i in ids if i > middle]
    assert [event["data"] for event in resumed[:-1]] == [event["data"] for event in studio if int(event["id"]) > middle]
    assert resumed[-1] == {"event": "end", "data": "completed"}
    with api.stream("GET", url, headers={"Last-Event-ID": str(ids[-1])}) as stream:
        assert sse(stream) == [{"event": "end", "data": "completed"}]


def test_last_event_id_resumes_a_session_stream(keyed, api, tmp_path):
    session = api.post("/mora/v1/sessions", json={"name": "resume"}).json()
    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (30, 90, 160)).save(photo)
    for name in ("harbour", "hill", "bridge"):
        given = api.post(f"/mora/v1/sessions/{session['id']}/uploads", data={"kind": "image", "description": name},
                         files={"file": (f"{name}.png", photo.read_bytes(), "image/png")})  # fmt: skip
        assert given.status_code == 200, given.text
    url = f"/mora/v1/sessions/{session['id']}/events"

    def last_input(event: dict) -> bool:
        return json.loads(event["data"])["artifact"]["index"] == 3

    with api.stream("GET", url) as stream:  # a session's stream stays open: read up to the third file given
        everything = sse(stream, stop=last_input)
    assert [(e["id"], e["event"]) for e in everything] == [("1", "input"), ("2", "input"), ("3", "input")]
    with api.stream("GET", url, headers={"Last-Event-ID": "1"}) as stream:
        resumed = sse(stream, stop=last_input)
    assert [(e["id"], e["data"]) for e in resumed] == [(e["id"], e["data"]) for e in everything[1:]]


# -- cancel while it runs -------------------------------------------------------------------------------------------

RUN_ENDS = ("run_finished", "run_failed", "run_cancelled")


@pytest.mark.parametrize("stage", ["enhance", "animate"], ids=["during-A1", "during-A4"])
def test_a_job_cancelled_while_it_runs_is_recorded_as_cancelled(keyed, api, stage):
    """``POST .../cancel`` on a running job (the other tests cancel queued and waiting ones): the store, the event
    stream and the run's manifest all say it was cancelled, whichever stage it was in."""
    job = api.post("/mora/v1/jobs", json={"task": "text_to_video", "inputs": {"prompt": "a slow river", "duration": 1}})
    assert job.status_code == 200, job.text
    job_id = job.json()["id"]

    def started(event: dict) -> bool:
        data = json.loads(event["data"]) if event.get("event") == "studio" else {}
        return data.get("type") == "stage_started" and data.get("stage") == stage

    with api.stream("GET", f"/mora/v1/jobs/{job_id}/events") as stream:
        assert started(sse(stream, stop=started)[-1])
    cancelled = api.post(f"/mora/v1/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text

    def events() -> list[dict]:
        with api.stream("GET", f"/mora/v1/jobs/{job_id}/events") as stream:
            return [json.loads(e["data"]) for e in sse(stream) if e.get("event") == "studio"]

    ended = wait(events, lambda e: bool(e) and e[-1]["type"] in RUN_ENDS)
    assert ended[-1]["type"] == "run_cancelled", ended[-1]
    stored = api.get(f"/mora/v1/jobs/{job_id}").json()
    assert (stored["status"], stored["error"]) == ("cancelled", "cancelled by a client")
    manifest = json.loads((keyed.workspace / "runs" / job_id / "manifest.json").read_text())
    assert "cancelled" in manifest["error"] and "video.mp4" not in stored["files"], manifest["error"]


# -- the supervisor gives up on a server that keeps crashing ----------------------------------------------------------

CRASHING_CHILD = """
import json, os
# Only in the supervised server child (the supervisor gives it a crash folder), never in the supervisor itself.
if os.environ.get({crash_dir!r}):
    log = os.environ["MORA_TEST_STARTS"]
    with open(log, "a") as handle:
        handle.write(json.dumps(os.environ.get({crashed!r})) + "\\n")
    with open(log) as handle:
        starts = len(handle.readlines())
    if starts <= int(os.environ["MORA_TEST_CRASHES"]):
        import ctypes
        ctypes.string_at(0)  # a real segfault, as native code dies
    os._exit(0)  # a server that ran and was stopped
elif os.environ.get("MORA_TEST_WINDOW_S"):
    import mora_agents.supervisor
    mora_agents.supervisor.SERVE_RESTART_WINDOW_S = float(os.environ["MORA_TEST_WINDOW_S"])
"""


@pytest.mark.parametrize(
    ("crashes", "window_s", "starts", "exit_code"),
    [
        (100, None, SERVE_RESTARTS, 128 + signal.SIGSEGV),
        (SERVE_RESTARTS - 1, None, SERVE_RESTARTS, 0),
        (SERVE_RESTARTS + 1, 0.0, SERVE_RESTARTS + 2, 0),
    ],
    ids=["five-crashes-give-up", "four-crashes-restart", "old-crashes-are-forgotten"],
)
def test_mora_serve_is_restarted_after_a_crash_and_left_down_after_five(tmp_path, crashes, window_s, starts,
                                                                         exit_code):  # fmt: skip
    """The real `mora serve` entry point: its child server segfaults at start (a ``sitecustomize`` of this test);
    the supervisor restarts it, telling the new child why the last died, until five crashes in ten minutes."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(textwrap.dedent(CRASHING_CHILD.format(
        crash_dir=crash_report.CRASH_DIR_ENV, crashed=SERVE_CRASH_ENV)))  # fmt: skip
    log = tmp_path / "starts.jsonl"
    path = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "MORA_SUPERVISE": "1", "MORA_TEST_STARTS": str(log),
           "MORA_TEST_CRASHES": str(crashes)}  # fmt: skip
    for name in (crash_report.CRASH_DIR_ENV, SERVE_CRASH_ENV, "MORA_TEST_WINDOW_S"):
        env.pop(name, None)
    if window_s is not None:
        env["MORA_TEST_WINDOW_S"] = str(window_s)
    command = [sys.executable, "-m", "mora_agents.cli", "serve", "--port", str(free_port()), "--workspace",
               str(tmp_path / "ws")]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)

    told = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(told) == starts, done.stderr
    assert done.returncode == exit_code, done.stderr
    # The first child starts clean; each restarted one is told the crash that ended the one before.
    assert told[0] is None
    assert all("crashed the server (SIGSEGV" in why and "mora doctor" in why for why in told[1:])
    lines = done.stderr.splitlines()
    crashed = [line for line in lines if line.startswith("error: ") and "crashed the server (SIGSEGV" in line]
    assert len(crashed) == min(crashes, starts)
    restarting = [line for line in lines if line.startswith("restarting mora serve")]
    minutes = f"{SERVE_RESTART_WINDOW_S / 60:g}"
    given_up = f"mora serve crashed {SERVE_RESTARTS} times in {minutes} minutes: not restarting it"
    if exit_code:
        assert len(restarting) == SERVE_RESTARTS - 1 and lines[-1] == given_up, done.stderr
    else:
        assert len(restarting) == starts - 1 and given_up not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
