"""The agents are AutoGen AgentChat agents: typed StructuredMessages in and out."""

import asyncio

import pytest
from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.messages import StructuredMessage, TextMessage
from autogen_core import CancellationToken

from mora_agents.agents import HumanProxyAgent, ImageToVideoAgent, ScriptedDecisions, TextToImageAgent
from mora_agents.errors import ReviewError
from mora_agents.messages import (
    ImageArtifact,
    ImageToVideoRequest,
    ReviewDecision,
    ReviewRequest,
    TextToImageRequest,
    VideoArtifact,
)
from mora_agents.resources import role_prompt
from mora_agents.workspace import Workspace, sha256_file


def ask(agent, content, stage="stage"):
    message = StructuredMessage[type(content)](content=content, source="test", metadata={"stage": stage})
    return asyncio.run(agent.on_messages([message], CancellationToken())).chat_message


def test_a2_and_a4_exchange_structured_messages(tmp_path, text_to_image_tool, image_to_video_tool):
    workspace = Workspace.create(tmp_path, "run")
    a2 = TextToImageAgent("a2_text_to_image", text_to_image_tool, workspace)
    a4 = ImageToVideoAgent("a4_image_to_video", image_to_video_tool, workspace)
    assert isinstance(a2, BaseChatAgent) and a2.description == role_prompt("text_to_image")
    assert list(a2.produced_message_types) == [StructuredMessage[ImageArtifact]]

    reply = ask(a2, TextToImageRequest(prompt="a red car", seed=3), stage="first_frame")
    image = reply.content
    assert isinstance(reply, StructuredMessage) and isinstance(image, ImageArtifact)
    assert reply.source == "a2_text_to_image" and reply.metadata == {"stage": "first_frame"}
    assert image.path == "stages/first_frame.png" and image.seed == 3
    assert image.sha256 == sha256_file(workspace.path(image.path))

    video = ask(a4, ImageToVideoRequest(image=image, duration=1.5, seed=3), stage="animate").content
    assert isinstance(video, VideoArtifact)
    assert (video.num_frames, video.fps, video.segments) == (12, 8, 2)
    assert video.sha256 == sha256_file(workspace.path(video.path))


def test_stage_agent_refuses_the_wrong_message(tmp_path, text_to_image_tool):
    a2 = TextToImageAgent("a2", text_to_image_tool, Workspace.create(tmp_path, "run"))
    with pytest.raises(TypeError, match="expects StructuredMessage\\[TextToImageRequest\\]"):
        asyncio.run(a2.on_messages([TextMessage(content="draw a car", source="user")], CancellationToken()))


def _review_request(can_edit=True):
    image = ImageArtifact(path="a.png", sha256="0" * 64, model_id="m", seed=0, seconds=0, width=8, height=8)
    return ReviewRequest(stage="first_frame", iteration=1, max_iterations=3, artifact=image, can_edit=can_edit)


def test_console_proxy_asks_again_after_a_typo():
    questions = []
    answers = iter(["maybe", "edit  warmer light "])

    def person(question):
        questions.append(question)
        return next(answers)

    proxy = HumanProxyAgent("human_proxy", person, mode="console", interactive=True)
    decision = ask(proxy, _review_request()).content
    assert decision == ReviewDecision(action="edit", instruction="warmer light", by="console")
    assert len(questions) == 2 and "'maybe' is not a decision" in questions[1]
    assert "iteration 1/3" in questions[0] and "edit <instruction>" in questions[0]


async def _async_person(question):
    return "regenerate"


def test_proxy_accepts_async_input_functions():
    proxy = HumanProxyAgent("human_proxy", _async_person, mode="web")
    assert ask(proxy, _review_request()).content.action == "regenerate"


def test_scripted_proxy_fails_on_a_bad_script():
    proxy = HumanProxyAgent("human_proxy", ScriptedDecisions(["sure"]), mode="scripted")
    with pytest.raises(ReviewError, match="'sure' is not a decision"):
        ask(proxy, _review_request())
    proxy = HumanProxyAgent("human_proxy", ScriptedDecisions(["edit brighter"]), mode="scripted")
    with pytest.raises(ReviewError, match="has no agent for edits"):
        ask(proxy, _review_request(can_edit=False))


def test_the_model_thread_runs_with_the_callers_torch_threads():
    # Under OpenMP torch's thread count is per OS thread: the one model thread must follow the caller's setting,
    # or the same seed gives other bytes in a process that changed it (the cross-process sha tests saw this).
    import torch

    from mora_agents.agents._stage_agent import StageAgent

    agent = StageAgent("probe", "reports the model thread's torch threads")

    async def seen() -> int:
        return await agent.run_blocking(lambda cancel: torch.get_num_threads(), "probe", CancellationToken())

    before = torch.get_num_threads()
    try:
        for threads in (1, 2, 1):
            torch.set_num_threads(threads)
            assert asyncio.run(seen()) == threads
    finally:
        torch.set_num_threads(before)
