"""The web studio in a real browser: Debian's Chromium driven by Playwright against a live `mora serve` (tiny
profile). Selectors are roles and accessible names, as a person reads the page. Each step saves a screenshot
under the test's tmp folder; a failure prints where they are."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import httpx
import playwright.sync_api as playwright_api  # the dev extra installs it: missing, the browser tests fail, never skip
import pytest
from live_server import serving, wait
from PIL import Image

expect = playwright_api.expect
expect.set_options(timeout=30_000)  # a loaded machine may render a step seconds after the last
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.slow
STEP_MS = 120_000
RUN_ENDS = ("run_finished", "run_failed", "run_cancelled")


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    yield from serving(tmp_path_factory, "web")


@pytest.fixture
def browser_page(studio, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install -y chromium)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 1500})
        page.set_default_timeout(STEP_MS)
        shots = Shots(page, tmp_path / "screenshots")
        try:
            page.goto(studio.url + "/")
            yield page, shots
        except Exception:
            print(f"screenshots of the failing test: {shots.folder}")
            raise
        finally:
            shots.take("last")
            browser.close()


class Shots:
    """One screenshot per step, numbered, under the test's tmp folder."""

    def __init__(self, page, folder: Path) -> None:
        self.page, self.folder, self.count = page, folder, 0
        folder.mkdir(parents=True)

    def take(self, name: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        return path


def say(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def card_image_bytes(page, studio) -> bytes:
    """The file the review card's image shows, read from the server (Gradio serves it by path)."""
    source = page.get_by_role("img", name="the result to review").get_attribute("src")
    return hashlib.sha256(page.request.get(source).body()).digest() if source else b""


def accept_until_done(page, stage_title: str) -> None:
    page.get_by_text(stage_title).wait_for()
    page.get_by_role("button", name="Accept").click()


def test_make_review_extend_in_the_browser(browser_page, studio):
    page, shots = browser_page
    say(page, "a red kite over a green hill, 1 second")
    page.get_by_text("First frame · iteration 1/3").wait_for()
    shots.take("first-frame-card")
    first = card_image_bytes(page, studio)

    page.get_by_role("button", name="Regenerate").click()
    page.get_by_text("First frame · iteration 2/3").wait_for()
    page.get_by_role("button", name="Accept").wait_for()
    shots.take("regenerated")
    assert card_image_bytes(page, studio) != first, "iteration 2 shows a new image"
    expect(page.get_by_text("Earlier iterations")).to_be_visible()  # retries: the page may render it a moment later

    page.get_by_role("button", name="Edit").click()
    page.get_by_role("textbox", name="Instruction").fill("make it snowy")
    page.get_by_role("button", name="Send").click()
    page.get_by_text("First frame · iteration 3/3").wait_for()
    expect(page.get_by_text("this result stands")).to_be_visible()  # the paper's cap: the last iteration
    shots.take("edited")

    page.get_by_role("button", name="Accept").click()
    page.get_by_text("Video · iteration 1/3").wait_for()
    video = page.locator("video").first
    page.wait_for_function("v => v.readyState >= 2", arg=video.element_handle())
    ready, duration = video.evaluate("v => [v.readyState, v.duration]")
    assert ready >= 2 and abs(duration - 1.0) <= 1 / 8 + 1e-6, duration  # within one frame at the profile's 8 fps
    shots.take("video-card")
    page.get_by_role("button", name="Accept").click()
    chat_video = page.get_by_label("Conversation").locator("video")
    chat_video.first.wait_for()
    shots.take("video-in-chat")

    # A follow-up turn: one extension longer. Reloading mid-job shows the same state, read from the store.
    say(page, "make it 2 seconds longer")
    page.get_by_text("iteration 1/3").wait_for()
    page.reload()
    page.get_by_role("button", name="Accept").wait_for()
    expect(page.get_by_text("make it 2 seconds longer").first).to_be_visible()
    shots.take("reloaded-mid-job")
    while page.get_by_role("button", name="Accept").is_visible():
        page.get_by_role("button", name="Accept").click()
        page.wait_for_timeout(1500)
    videos = page.get_by_label("Conversation").locator("video")
    playwright_api.expect(videos).to_have_count(2, timeout=STEP_MS)
    longer = videos.last
    page.wait_for_function("v => v.readyState >= 1", arg=longer.element_handle())
    assert abs(longer.evaluate("v => v.duration") - 3.0) <= 1 / 8 + 1e-6
    shots.take("extended-in-chat")


def test_cancel_a_running_job(browser_page, studio):
    page, shots = browser_page
    page.get_by_role("button", name="New session").click()
    say(page, "a paper boat drifting on a pond, 1 second")
    page.get_by_role("button", name="Cancel").wait_for()
    # Running (or waiting for its first review, as the chat's jobs do): started, not finished.
    job = wait(lambda: newest_job(studio, "a paper boat drifting on a pond"),
               lambda j: j is not None and j["status"] in ("running", "awaiting_review"), every=0.1)  # fmt: skip
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("cancelled").first.wait_for()
    shots.take("cancelled")
    # The picker counts this new session's one turn in the singular (it read "1 turns").
    expect(page.get_by_label("Session")).to_have_value(re.compile(r"^web · 1 turn · "))
    # The store says so, and the run stopped there: it recorded why, made no video, and stays cancelled.
    events = wait(lambda: job_events(studio, job["id"]), lambda e: bool(e) and e[-1]["type"] in RUN_ENDS)
    assert events[-1]["type"] == "run_cancelled", events[-1]
    stored = httpx.get(f"{studio.url}/mora/v1/jobs/{job['id']}", timeout=30).json()
    assert (stored["status"], stored["error"]) == ("cancelled", "cancelled by a client"), stored
    assert "video.mp4" not in stored["files"]


def newest_job(studio, prompt: str) -> dict | None:
    """The newest job of the server's job API whose prompt is ``prompt``."""
    jobs = httpx.get(f"{studio.url}/mora/v1/jobs", params={"limit": 10}, timeout=30).json()
    return next((j for j in jobs if j["request"]["inputs"].get("prompt") == prompt), None)


def job_events(studio, job_id: str) -> list[dict]:
    """A job's events so far (its stream replays them and ends once the job has finished)."""
    with httpx.stream("GET", f"{studio.url}/mora/v1/jobs/{job_id}/events", timeout=30) as stream:
        lines = [line[5:] for line in stream.iter_lines() if line.startswith("data:")]
    return [json.loads(line) for line in lines[:-1]]


def test_a_finished_stage_made_again_marks_what_came_from_it_stale(browser_page, studio, tmp_path):
    page, shots = browser_page
    page.get_by_role("button", name="New session").click()
    page.get_by_role("radio", name="nobody (accept all)").check()
    say(page, "a lighthouse at dusk, 1 second")
    conversation = page.get_by_label("Conversation")
    playwright_api.expect(conversation.locator("video")).to_have_count(1, timeout=STEP_MS)
    say(page, "make it 1 second longer")
    playwright_api.expect(conversation.locator("video")).to_have_count(2, timeout=STEP_MS)
    page.get_by_text("Continuation · iteration 1/3").wait_for()

    # Back to turn 1's card: its first frame, made again. Turn 2 was made from turn 1's video: now stale.
    page.get_by_label("Turn").click()
    page.get_by_role("option", name="turn 1").click()
    page.get_by_text("Video · iteration 1/3").wait_for()  # turn 1's card, at its last stage
    page.get_by_role("radio", name="first_frame").check()
    page.get_by_text("First frame · iteration").wait_for()
    shots.take("turn-1-first-frame")
    page.get_by_role("button", name="Regenerate").click()
    page.get_by_text("(stale").wait_for()
    remake = page.get_by_role("button", name="Make the next stale result again")
    remake.wait_for()
    shots.take("stale")
    page.wait_for_function("() => !document.body.innerText.includes('· running ·') && "
                           "!document.body.innerText.includes('· queued ·')")  # fmt: skip
    remake.click()
    # The store says when it is done: both turns made twice, nothing stale, the earlier versions kept.
    latest = httpx.get(f"{studio.url}/mora/v1/sessions").json()[0]
    record = wait(lambda: httpx.get(f"{studio.url}/mora/v1/sessions/{latest['id']}").json(),
                  lambda r: [t["status"] for t in r["turns"]] == ["completed"] * 2
                  and not any(a["stale"] for a in r["artifacts"]))  # fmt: skip
    playwright_api.expect(page.get_by_text("(stale")).to_have_count(0, timeout=STEP_MS)
    shots.take("made-again")
    for turn in record["turns"]:
        manifest = json.loads(
            (studio.workspace / "sessions" / latest["id"] / turn["run_dir"] / "manifest.json").read_text()
        )
        assert manifest["status"] == "completed" and manifest["superseded"], turn["run_dir"]

    # Connect the two clips by chatting; give the session a photo; undo the last result.
    say(page, "connect the first and the second clip")
    playwright_api.expect(conversation.locator("video")).to_have_count(3, timeout=STEP_MS)
    shots.take("connected")
    photo = tmp_path / "harbour.png"
    Image.new("RGB", (96, 64), (30, 90, 160)).save(photo)
    page.locator("input[type=file]").first.set_input_files(str(photo))  # "Give an image or a video"
    page.get_by_text("(gave #4: harbour)").wait_for()
    page.get_by_role("button", name="Undo last result").click()
    page.get_by_text("(undone)").wait_for()
    shots.take("given-and-undone")


def test_a_task_form_from_the_sop_runs_a_job_and_the_page_fits_a_phone(browser_page, studio, tmp_path):
    page, shots = browser_page
    page.get_by_role("tab", name="Tasks").click()
    page.get_by_label("Task").click()
    page.get_by_role("option", name="image_to_video").click()
    # The form comes from the SOP's typed inputs: an image field, text, seconds, the fit choice.
    page.get_by_text("image (required)").wait_for()
    photo = tmp_path / "harbour.png"
    Image.new("RGB", (96, 64), (30, 90, 160)).save(photo)
    page.locator("input[type=file]").last.set_input_files(str(photo))  # the form's image (the chat's comes first)
    page.get_by_role("button", name="Remove Image").wait_for()  # the form holds the image
    page.get_by_role("textbox", name="prompt").fill("the water ripples")
    page.get_by_role("spinbutton", name="duration").fill("1")
    page.get_by_role("radio", name="nobody (accept all)").last.check()
    shots.take("task-form")
    page.get_by_role("button", name="Run").click()
    page.get_by_text("image to video · completed · 100%").wait_for()
    # The downloads: each file of the run folder, the manifest among them.
    for name in ("video.mp4", "manifest.json"):
        playwright_api.expect(page.get_by_role("cell", name=name)).to_be_visible(timeout=STEP_MS)
    shots.take("task-done")
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Chat").click()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide at phone width"
    shots.take("phone-width")
