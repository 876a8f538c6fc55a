"""Judges and the judge panel (paper App. A.6): agreement decides, disagreement goes to the human, garbage abstains.

The OpenAI judge talks through the real ``openai`` client to a real OpenAI-compatible HTTP server started on loopback
here; the metric judge computes real weight-free metrics on small videos written with ``VideoFileWriter``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from autogen_agentchat.messages import StructuredMessage
from autogen_core import CancellationToken
from PIL import Image

from mora_agents.agents import (
    CRITERIA,
    CRITERION_WEIGHTS,
    HumanProxyAgent,
    JudgeAgent,
    JudgePanelReviewer,
    MetricJudge,
    OpenAIJudge,
    ScriptedDecisions,
    criterion_weights,
    judge_from_spec,
)
from mora_agents.agents._judge import DEFAULT_WEIGHTS, OVERALL_CRITERION
from mora_agents.agents._judge_panel import BY_HUMAN_DISAGREED, BY_JUDGES
from mora_agents.errors import MoraError, ReviewError
from mora_agents.media import VideoFileWriter
from mora_agents.messages import (
    EnhancedPrompt,
    JudgeRequest,
    JudgeVerdict,
    ReviewDecision,
    ReviewRequest,
    VideoArtifact,
    VideoRequest,
)
from mora_agents.studio import StudioConfig, make_reviewer

FPS = 8
SIZE = 64
COUNT = 16
STRICT_SMOOTHNESS = "metric:motion_smoothness=1,threshold=0.9"
"""Rejects the noise clip (smoothness about 0.8), accepts the pan (about 1.0)."""
LENIENT_FLICKER = "metric:flicker=-1,threshold=0.5"
"""Accepts both: the noise clip's flicker is about 0.25, so its score (1 - flicker) is about 0.75."""


def _write(path: Path, frames: list[np.ndarray]) -> Path:
    with VideoFileWriter(path, fps=FPS) as writer:
        for frame in frames:
            writer.append(frame)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, VideoArtifact]]:
    """A run-like folder with a smooth pan over a blurred texture, per-frame noise, and the texture standing still
    (2 s, 64x64, 8 fps)."""
    import cv2

    root = tmp_path_factory.mktemp("judge-run")
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (SIZE, SIZE * 3, 3), dtype=np.uint8), (9, 9), 3)
    frames = {
        "pan": [np.ascontiguousarray(texture[:, 2 * i : 2 * i + SIZE]) for i in range(COUNT)],
        "noise": [rng.integers(0, 256, (SIZE, SIZE, 3), np.uint8) for _ in range(COUNT)],
        "still": [np.ascontiguousarray(texture[:, :SIZE]) for _ in range(COUNT)],
    }
    artifacts = {}
    for name, video in frames.items():
        path = _write(root / f"{name}.mp4", video)
        artifacts[name] = VideoArtifact(
            path=path.name,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            model_id="test",
            parameters={"prompt": "a slow pan over a rocky texture"},
            seed=0,
            seconds=0.0,
            width=SIZE,
            height=SIZE,
            fps=FPS,
            num_frames=COUNT,
        )
    return root, artifacts


def _panel(specs: list[str], decisions: list[str], root: Path) -> tuple[JudgePanelReviewer, ScriptedDecisions]:
    script = ScriptedDecisions(decisions)
    panel = JudgePanelReviewer(
        "judge_panel",
        [judge_from_spec(spec, index) for index, spec in enumerate(specs)],
        HumanProxyAgent("human_proxy", script, mode="scripted"),
    )
    panel.files_root = root
    return panel, script


def _review(panel: JudgePanelReviewer, artifact, iteration: int = 1, asked: str = "") -> ReviewDecision:
    request = ReviewRequest(stage="animate", iteration=iteration, max_iterations=3, artifact=artifact, request=asked)
    message = StructuredMessage[ReviewRequest](content=request, source="sop")
    response = asyncio.run(panel.on_messages([message], CancellationToken()))
    return response.chat_message.content


# --- the metric judge ---------------------------------------------------------------------------------------------


def test_metric_judge_ranks_smooth_pan_above_noise(clips) -> None:
    root, artifacts = clips
    judge = JudgeAgent("judge0_metric", MetricJudge(), files_root=root)
    request = JudgeRequest(
        request="a pan", criterion="temporal coherence", candidates=[artifacts["noise"], artifacts["pan"]]
    )
    response = asyncio.run(
        judge.on_messages([StructuredMessage[JudgeRequest](content=request, source="test")], CancellationToken())
    )
    verdict = response.chat_message.content
    assert isinstance(verdict, JudgeVerdict)
    assert verdict.ranking == [1, 0] and verdict.top == 1 and not verdict.abstained
    assert "motion_smoothness=" in verdict.reasons


def _judge(backend: MetricJudge, root: Path, criterion: str, candidates: list[VideoArtifact]) -> JudgeVerdict:
    request = JudgeRequest(request="a rocky texture", criterion=criterion, candidates=candidates)
    message = StructuredMessage[JudgeRequest](content=request, source="test")
    response = asyncio.run(
        JudgeAgent("judge0_metric", backend, files_root=root).on_messages([message], CancellationToken())
    )
    return response.chat_message.content


def test_the_criterion_chooses_the_metric_judges_weights(clips) -> None:
    root, artifacts = clips
    candidates = [artifacts["still"], artifacts["pan"]]
    judge = judge_from_spec("metric:threshold=0").backend
    # The still clip does not change at all; the pan moves smoothly, so its pixels change from frame to frame.
    # Lighting and colour weighs that change (flicker) against a clip: the still one is best ...
    lighting = _judge(judge, root, CRITERIA[4], candidates)
    assert lighting.ranking == [0, 1] and lighting.reasons.startswith("criterion Lighting and colour: flicker=-1")
    # ... natural motion wants motion (dynamic_degree): the same two clips, the other order.
    motion = _judge(judge, root, CRITERIA[9], candidates)
    assert motion.ranking == [1, 0] and motion.reasons.startswith("criterion Frame-rate consistency: ")
    # A judge given fixed weights keeps them whatever the criterion.
    fixed = judge_from_spec("metric:flicker=-1,threshold=0").backend
    assert _judge(fixed, root, CRITERIA[9], candidates).ranking == [0, 1]


def test_every_criterion_has_its_own_weights_over_known_metrics() -> None:
    from mora_agents.evaluation.metrics import WEIGHT_FREE_METRICS

    assert list(CRITERION_WEIGHTS) == list(CRITERIA)
    rows = list(CRITERION_WEIGHTS.values())
    assert len({tuple(sorted(row.weights.items())) for row in rows}) == len(CRITERIA), "no two criteria alike"
    for criterion, row in CRITERION_WEIGHTS.items():
        assert criterion.startswith(row.name) and row.why
        assert set(row.weights) <= set(WEIGHT_FREE_METRICS) and any(row.weights.values())
        # Found by the whole sentence and by its short name in any case; weights are copies, not the table's own.
        assert criterion_weights(criterion) == criterion_weights(row.name.upper()) == (row.name, dict(row.weights))
    assert criterion_weights(OVERALL_CRITERION) == ("default", DEFAULT_WEIGHTS)
    criterion_weights(CRITERIA[0])[1]["flicker"] = 99.0
    assert CRITERION_WEIGHTS[CRITERIA[0]].weights["flicker"] == -1.0


def test_judge_specs_and_errors() -> None:
    judge = judge_from_spec("metric:motion_smoothness=2,flicker=-1,threshold=0.7", 3)
    assert judge.name == "judge3_metric"
    assert judge.backend.weights == {"motion_smoothness": 2.0, "flicker": -1.0} and judge.backend.threshold == 0.7
    with pytest.raises(MoraError, match="unknown judge 'llava'"):
        judge_from_spec("llava")
    with pytest.raises(MoraError, match="not name=number"):
        judge_from_spec("metric:motion_smoothness")
    with pytest.raises(MoraError, match="knows no metric 'sharpness'"):
        judge_from_spec("metric:sharpness=1")
    with pytest.raises(MoraError, match="needs at least one judge"):
        make_reviewer(StudioConfig(review="judge"))
    with pytest.raises(MoraError, match="unknown judge"):
        make_reviewer(StudioConfig(review="judge", judges=["metric", "gpt"]))
    assert isinstance(make_reviewer(StudioConfig(review="judge", judges=["metric"])), JudgePanelReviewer)


def test_abstain_differs_from_none_acceptable() -> None:
    with pytest.raises(ValueError):
        JudgeVerdict(judge="x", abstained=True, top=0, ranking=[0])
    with pytest.raises(ValueError):
        JudgeVerdict(judge="x", top=1, ranking=[0, 1])
    none_acceptable = JudgeVerdict(judge="x", ranking=[0], top=None)
    abstained = JudgeVerdict(judge="x", abstained=True, reasons="no answer")
    assert none_acceptable.top is None and not none_acceptable.abstained
    assert abstained.top is None and abstained.abstained


# --- the panel rule -----------------------------------------------------------------------------------------------


def test_agreeing_judges_decide_without_the_human(clips) -> None:
    root, artifacts = clips
    panel, script = _panel(["metric", STRICT_SMOOTHNESS], [], root)
    decision = _review(panel, artifacts["pan"])
    assert decision.action == "accept" and decision.by == BY_JUDGES
    assert script.used == 0
    assert decision.votes.outcome == "agreed"
    assert [verdict.top for verdict in decision.votes.verdicts] == [0, 0]


def test_disagreeing_judges_go_to_the_human(clips) -> None:
    root, artifacts = clips
    panel, script = _panel([STRICT_SMOOTHNESS, LENIENT_FLICKER], ["regenerate"], root)
    decision = _review(panel, artifacts["noise"])
    assert script.used == 1
    assert decision.action == "regenerate" and decision.by == BY_HUMAN_DISAGREED
    assert decision.votes.outcome == "disagreed"
    assert [verdict.top for verdict in decision.votes.verdicts] == [None, 0]


def test_prompts_go_straight_to_the_human(clips) -> None:
    root, _ = clips
    panel, script = _panel(["metric"], ["edit more fog"], root)
    prompt = EnhancedPrompt(original="a pan", prompt="a slow pan", source="llm", model="m")
    request = ReviewRequest(stage="enhance", iteration=1, max_iterations=3, artifact=prompt, can_edit=True)
    response = asyncio.run(
        panel.on_messages([StructuredMessage[ReviewRequest](content=request, source="sop")], CancellationToken())
    )
    decision = response.chat_message.content
    assert str(decision) == "edit more fog" and decision.by == "scripted" and decision.votes is None
    assert script.used == 1


# --- the OpenAI judge against a local OpenAI-compatible server ----------------------------------------------------


class _JudgeHandler(BaseHTTPRequestHandler):
    """Chat completions: model ``garbage`` answers prose, ``strict`` a valid JSON "none acceptable" verdict."""

    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(body)
        if body["model"] == "garbage":
            answer = "I think the first video looks quite nice, honestly."
        else:
            answer = json.dumps({"ranking": [0], "top": None, "reasons": "the motion is not natural"})
        payload = {
            "id": "judge-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        """Quiet: the test output shows failures, not request lines."""


@pytest.fixture
def judge_server() -> Iterator[str]:
    _JudgeHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JudgeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_garbage_answers_retry_once_then_abstain_and_the_panel_goes_on(clips, judge_server: str) -> None:
    root, artifacts = clips
    script = ScriptedDecisions([])
    openai_judge = JudgeAgent("judge0_openai", OpenAIJudge("garbage", base_url=judge_server, frames=3))
    panel = JudgePanelReviewer(
        "judge_panel",
        [openai_judge, judge_from_spec("metric", 1)],
        HumanProxyAgent("human_proxy", script, mode="scripted"),
    )
    panel.files_root = root
    decision = _review(panel, artifacts["pan"])
    assert len(_JudgeHandler.requests) == 2
    # No words from the user: the stage's own prompt stands in.
    assert "Request: a slow pan over a rocky texture" in _JudgeHandler.requests[0]["messages"][1]["content"][0]["text"]
    first = _JudgeHandler.requests[0]
    images = [part for part in first["messages"][1]["content"] if part["type"] == "image_url"]
    assert len(images) == 3 and all(part["image_url"]["url"].startswith("data:image/png;base64,") for part in images)
    assert "Table 3" in first["messages"][0]["content"]
    # The retry tells the model what was wrong.
    assert "unusable" in _JudgeHandler.requests[1]["messages"][-1]["content"]
    garbage, metric = decision.votes.verdicts
    assert garbage.abstained and garbage.top is None and "not JSON" in garbage.reasons
    assert not metric.abstained and metric.top == 0
    assert decision.action == "accept" and decision.by == BY_JUDGES and script.used == 0


def test_openai_judge_against_metric_judge_disagree(clips, judge_server: str) -> None:
    root, artifacts = clips
    script = ScriptedDecisions(["accept"])
    panel = JudgePanelReviewer(
        "judge_panel",
        [JudgeAgent("judge0_openai", OpenAIJudge("strict", base_url=judge_server)), judge_from_spec("metric", 1)],
        HumanProxyAgent("human_proxy", script, mode="scripted"),
    )
    panel.files_root = root
    decision = _review(panel, artifacts["pan"], asked="a kite at dusk")
    assert len(_JudgeHandler.requests) == 1
    # The judge ranks against the user's words, not the stage's own (enhanced) prompt.
    text = _JudgeHandler.requests[0]["messages"][1]["content"][0]["text"]
    assert text.startswith("Request: a kite at dusk\n")
    assert decision.action == "accept" and decision.by == BY_HUMAN_DISAGREED and script.used == 1
    strict, metric = decision.votes.verdicts
    assert (strict.top, strict.reasons) == (None, "the motion is not natural") and metric.top == 0


def test_all_abstaining_goes_to_the_human_who_must_answer(clips, tmp_path: Path) -> None:
    root, artifacts = clips
    still = tmp_path / "still.png"
    Image.new("RGB", (SIZE, SIZE), (90, 120, 200)).save(still)
    from mora_agents.messages import ImageArtifact

    image = ImageArtifact(
        path=str(still), sha256="0" * 64, model_id="test", seed=0, seconds=0.0, width=SIZE, height=SIZE
    )
    panel, script = _panel(["metric"], [], root)
    # The metric judge abstains on stills; the scripted human has no answer left: the review fails, naming the stage.
    with pytest.raises(ReviewError, match="ran out of decisions"):
        _review(panel, image)


# --- through the studio: every candidate rejected ----------------------------------------------------------------


def test_none_acceptable_is_recorded_in_the_manifest(tmp_path: Path) -> None:
    from mora_agents.sop import find_sop
    from mora_agents.studio import run_task

    picture = tmp_path / "input.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), np.uint8)).save(picture)
    spec = find_sop("image_to_video")
    request = VideoRequest(task=spec.name, inputs={"prompt": "waves", "image": str(picture), "duration": 0.5}, seed=2)
    # A threshold above the score's range rejects everything; no decisions: the human must never be asked.
    config = StudioConfig(profile="tiny", review="judge", judges=["metric:motion_smoothness=1,threshold=1.5"])
    workspace, manifest = run_task(spec, request, tmp_path / "runs", config)
    animate = next(stage for stage in manifest.stages if stage.id == "animate")
    assert len(animate.iterations) == 3
    for iteration in animate.iterations:
        assert iteration.decision.action == "regenerate" and iteration.decision.by == BY_JUDGES
        assert iteration.decision.votes.outcome == "none_acceptable"
        assert "none acceptable" in iteration.decision.votes.verdicts[0].reasons
    assert animate.review_exhausted
    # The manifest on disk says the same.
    on_disk = json.loads((workspace.root / "manifest.json").read_text())
    stage = next(stage for stage in on_disk["stages"] if stage["id"] == "animate")
    assert [it["decision"]["votes"]["outcome"] for it in stage["iterations"]] == ["none_acceptable"] * 3


def test_cli_judge_option_reaches_the_studio(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    picture = tmp_path / "input.png"
    Image.new("RGB", (SIZE, SIZE), (10, 20, 30)).save(picture)
    command = [sys.executable, "-m", "mora_agents.cli", "generate", "image-to-video", "-p", "waves"]
    command += ["--image", str(picture), "--review", "judge", "--judge", "metric", "--judge", "llava"]
    command += ["--out", str(tmp_path / "runs")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.returncode == 2
    assert "unknown judge 'llava'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
