"""The front-end-neutral seam: the async Studio, typed events, an injected reviewer, models shared across runs.

Real agents, the embedded LLM and the tiny pipelines; the reviewer is a plain async function, as a server's is.
"""

from __future__ import annotations

import asyncio

import pytest
from autogen_core import CancellationToken
from pydantic import TypeAdapter

from mora_agents.errors import CancelledError
from mora_agents.messages import (
    ArtifactReady,
    ReviewDecided,
    ReviewDecision,
    ReviewRequest,
    ReviewRequested,
    RunCancelled,
    RunFinished,
    StageStarted,
    StepProgress,
    StudioEvent,
    VideoRequest,
)
from mora_agents.sop import find_sop
from mora_agents.studio import Studio, StudioConfig
from mora_tools.loading.memory import ModelMemory

EVENTS = TypeAdapter(StudioEvent)


def request(seed: int = 3) -> VideoRequest:
    return VideoRequest(task="text_to_video", inputs={"prompt": "a lighthouse on a cliff", "duration": 0.5}, seed=seed)


@pytest.mark.slow
def test_an_injected_reviewer_gets_typed_requests_and_events_arrive_in_order(tmp_path):
    asked: list[tuple[ReviewRequest, CancellationToken]] = []

    async def reviewer(review: ReviewRequest, token: CancellationToken) -> ReviewDecision:
        asked.append((review, token))
        action = "regenerate" if len(asked) == 1 else "accept"  # the first frame once more, then accept all
        return ReviewDecision(action=action, by="web")

    events: list = []
    token = CancellationToken()
    studio = Studio(StudioConfig(profile="tiny", review="console"))  # the injected reviewer replaces the console
    workspace, manifest = asyncio.run(
        studio.run(
            find_sop("text_to_video"),
            request(),
            tmp_path,
            reviewer=reviewer,
            on_event=events.append,
            cancellation_token=token,
        )  # fmt: skip
    )
    assert manifest.status == "completed" and manifest.review == "injected"
    # The reviewer saw typed requests with what it may answer, and the run's own cancellation token.
    first, *_ = asked
    assert first[0].stage == "first_frame" and first[0].iteration == 1 and first[1] is token
    assert first[0].allowed == ["accept", "regenerate", "edit"]
    assert [d.decision.action for d in manifest.stages[1].iterations] == ["regenerate", "accept"]
    assert all(it.decision.by == "web" for stage in manifest.stages for it in stage.iterations if it.decision)
    # Every event carries the run id and survives JSON (what a server sends).
    assert {e.run_id for e in events} == {manifest.run_id}
    assert [EVENTS.validate_json(e.model_dump_json()) for e in events] == events
    kinds = [e.type for e in events]
    assert kinds[-1] == "run_finished" and kinds.count("run_finished") == 1
    assert isinstance(events[-1], RunFinished) and events[-1].output.path == "video.mp4"
    # Per stage iteration: started, then its steps, then the artifact, then the review asked and decided.
    frame = [
        e for e in events if getattr(e, "stage", getattr(getattr(e, "request", None), "stage", None)) == "first_frame"
    ]
    assert [type(e) for e in frame] == [StageStarted, ArtifactReady, ReviewRequested, ReviewDecided] * 2
    started = kinds.index("stage_started", kinds.index("artifact_ready"))  # the second stage to start
    steps = [e for e in events[:started] if isinstance(e, StepProgress)]
    assert steps and steps[-1].done and all(a.step <= b.step for a, b in zip(steps, steps[1:], strict=False))


@pytest.mark.slow
def test_cancelling_while_a_review_waits_ends_the_run_as_cancelled(tmp_path):
    token = CancellationToken()

    async def reviewer(review: ReviewRequest, cancellation_token: CancellationToken) -> ReviewDecision:
        # A person who never answers: the decision is a future the cancellation token cancels.
        decision: asyncio.Future = asyncio.get_running_loop().create_future()
        cancellation_token.link_future(decision)
        asyncio.get_running_loop().call_later(0.05, token.cancel)
        return await decision

    events: list = []
    studio = Studio(StudioConfig(profile="tiny"))
    run = studio.run(find_sop("text_to_video"), request(), tmp_path, reviewer=reviewer, on_event=events.append,
                     cancellation_token=token)  # fmt: skip
    with pytest.raises(CancelledError, match="cancelled while waiting for the review of stage 'first_frame'"):
        asyncio.run(run)
    assert isinstance(events[-1], RunCancelled)
    (folder,) = tmp_path.iterdir()
    assert '"status": "failed"' in (folder / "manifest.json").read_text()


@pytest.mark.slow
def test_runs_of_one_studio_share_its_loaded_models(tmp_path):
    memory = ModelMemory("keep")
    studio = Studio(StudioConfig(profile="tiny", review="auto"), memory)
    spec = find_sop("text_to_video")
    asyncio.run(studio.run(spec, request(seed=1), tmp_path))
    loads = memory.loads
    _, manifest = asyncio.run(studio.run(spec, request(seed=2), tmp_path))
    assert manifest.status == "completed" and loads >= 2 and memory.loads == loads  # nothing loaded again
