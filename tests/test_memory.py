"""Memory policies, the out-of-memory retry, and cancellation, on real tiny runs (text -> frame -> clip)."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch
from autogen_core import CancellationToken

from mora_agents.errors import CancelledError, MoraError
from mora_agents.messages import VideoRequest
from mora_agents.sop import SopSpec
from mora_agents.studio import ConsoleEvents, StudioConfig, run_task
from mora_tools.loading.memory import ModelMemory

SOP = """
name: frame_then_clip
description: A first frame, then one second of video (no LLM, no review), to watch models come and go.
inputs:
  prompt: {type: text, required: true}
steps:
  - id: frame
    agent: text_to_image
    with: {prompt: $inputs.prompt}
  - id: clip
    agent: image_to_video
    with: {image: $frame.image, duration: 1}
output: clip
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> SopSpec:
    path = tmp_path_factory.mktemp("sop") / "frame_then_clip.yaml"
    path.write_text(SOP)
    return SopSpec.from_file(path)


def run(spec, tmp_path, memory=None, progress=None, token=None):
    request = VideoRequest(task=spec.name, inputs={"prompt": "a lighthouse at dusk"}, seed=3)
    events = ConsoleEvents(progress) if progress is not None else None  # the sink hears the steps as events do
    return run_task(
        spec, request, tmp_path, StudioConfig(profile="tiny"), events, cancellation_token=token, memory=memory
    )


class LoadWatcher:
    """Weak references to every pipeline each load produced, keyed by role."""

    def __init__(self, memory: ModelMemory) -> None:
        self.refs: dict[str, list[weakref.ref]] = {}
        self.alive_at_load: dict[str, dict[str, bool]] = {}
        memory.on_load(self.loaded)

    def loaded(self, key: str, tool) -> None:
        role = key.split("/")[-1]
        gc.collect()
        # What of the earlier stages is still alive when this one loads?
        self.alive_at_load[role] = {other: self.alive(other) for other in self.refs}
        pipelines = [value for value in vars(tool).values() if hasattr(value, "components")]
        assert pipelines, f"{key}: found no pipeline to watch"
        self.refs[role] = [weakref.ref(pipe) for pipe in pipelines]

    def alive(self, role: str) -> bool:
        return any(ref() is not None for ref in self.refs[role])


def test_free_releases_each_stage_before_the_next_loads(spec, tmp_path):
    memory = ModelMemory("free")
    watcher = LoadWatcher(memory)
    _, manifest = run(spec, tmp_path, memory)
    assert manifest.status == "completed" and manifest.memory_policy == "free"
    assert watcher.alive_at_load["image_to_video"] == {"text_to_image": False}
    gc.collect()
    assert not watcher.alive("text_to_image") and not watcher.alive("image_to_video")
    assert memory.loaded_keys == [] and memory.loads == 2


def test_keep_reuses_the_loaded_pipelines_in_the_next_request(spec, tmp_path):
    memory = ModelMemory("keep")
    watcher = LoadWatcher(memory)
    _, first = run(spec, tmp_path / "one", memory)
    frame_pipes = [ref() for ref in watcher.refs["text_to_image"]]
    _, second = run(spec, tmp_path / "two", memory)
    assert memory.loads == 2, "the second request loaded its models again"
    assert [ref() for ref in watcher.refs["text_to_image"]] == frame_pipes and all(frame_pipes)
    assert memory.loaded_keys == ["tiny/text_to_image", "tiny/image_to_video"]
    # Same models, same seed: the same first frame.
    assert first.stages[0].result.sha256 == second.stages[0].result.sha256


def test_keep_with_no_room_keeps_only_the_tool_in_use_until_its_stage_ends(spec, tmp_path):
    memory = ModelMemory("keep", budget_bytes=1)  # nothing fits: only the tool in use may stay
    watcher = LoadWatcher(memory)
    _, manifest = run(spec, tmp_path, memory)
    assert manifest.status == "completed"
    assert watcher.alive_at_load["image_to_video"] == {"text_to_image": False}
    # The tool in use stays while its stage runs; alone over the budget, it goes when the stage ends.
    assert memory.loaded_keys == []


def test_keep_over_budget_evicts_the_least_recently_used_not_the_first_loaded(tiny_profile):
    from mora_tools.loading.memory import tool_bytes
    from mora_tools.pipelines.text_to_image import TextToImageTool

    def load():
        return TextToImageTool.from_profile(tiny_profile, device="cpu")

    size = tool_bytes(load())
    assert size > 0
    # Room for two tools, not three: the third load must evict one, and which one tells the orders apart.
    memory = ModelMemory("keep", budget_bytes=int(size * 2.5))
    watcher = LoadWatcher(memory)
    memory.acquire("a", load)
    memory.acquire("b", load)
    memory.acquire("a", load)  # a is used again: b is now the least recently used, a the most
    assert memory.loads == 2 and memory.loaded_keys == ["b", "a"]
    memory.acquire("c", load)
    # LRU evicts b. FIFO (first loaded first) would have evicted a, MRU would have evicted a too.
    assert memory.loaded_keys == ["a", "c"]
    gc.collect()
    assert not watcher.alive("b") and watcher.alive("a") and watcher.alive("c")
    # Within the budget, the end of a stage evicts nothing.
    memory.stage_finished()
    assert memory.loaded_keys == ["a", "c"] and memory.loads == 3


def test_the_run_memory_goes_with_the_run(spec, tmp_path):
    _, manifest = run(spec, tmp_path, memory=None)
    assert manifest.status == "completed" and manifest.memory_policy == "free"


class OutOfMemoryOnce:
    """A progress sink that makes the given stage's first ``times`` denoising steps fail as CUDA would."""

    def __init__(self, stage: str, times: int = 1) -> None:
        self.stage, self.left = stage, times

    def start(self, stage, total, description=""):
        pass

    def advance(self, stage, steps=1):
        if stage == self.stage and self.left:
            self.left -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def finish(self, stage):
        pass


@pytest.mark.slow  # three loads and a whole frame + clip run: over 3 s
def test_out_of_memory_is_retried_once_in_low_memory_mode_and_recorded(spec, tmp_path):
    memory = ModelMemory("free")
    watcher = LoadWatcher(memory)
    workspace, manifest = run(spec, tmp_path, memory, OutOfMemoryOnce("frame"))
    assert manifest.status == "completed"
    frame = workspace.load_manifest().stages[0].result
    fallback = frame.parameters["memory_fallback"]
    assert fallback.startswith("out of memory (CUDA out of memory") and "VAE slicing" in fallback
    assert "memory_fallback" not in manifest.stages[1].result.parameters
    assert memory.loads == 3  # frame, frame again in low-memory mode, clip
    assert watcher.alive_at_load["image_to_video"] == {"text_to_image": False}


def test_out_of_memory_twice_fails_with_one_sentence_and_a_failed_manifest(spec, tmp_path):
    with pytest.raises(MoraError, match="stage 'frame' ran out of memory, even retried with CPU offload") as error:
        run(spec, tmp_path, ModelMemory("free"), OutOfMemoryOnce("frame", times=2))
    assert error.value.exit_code == 2
    (folder,) = tmp_path.iterdir()
    manifest = (folder / "manifest.json").read_text()
    assert '"status": "failed"' in manifest and "ran out of memory" in manifest


class CancelAfterFirstStep:
    """Cancels the run from inside the stage's first denoising step, as a Ctrl-C handler would."""

    def __init__(self, stage: str, token: CancellationToken) -> None:
        self.stage, self.token, self.steps = stage, token, 0

    def start(self, stage, total, description=""):
        self.total = total if stage == self.stage else getattr(self, "total", None)

    def advance(self, stage, steps=1):
        if stage == self.stage:
            self.steps += steps
            self.token.cancel()

    def finish(self, stage):
        pass


def test_cancel_during_a_stage_stops_within_one_step_and_leaves_a_valid_manifest(spec, tmp_path):
    token = CancellationToken()
    sink = CancelAfterFirstStep("clip", token)
    with pytest.raises(CancelledError, match="stage 'clip' was cancelled"):
        run(spec, tmp_path, ModelMemory("free"), sink, token)
    assert sink.steps == 1 and sink.total > 1  # stopped at the step where the cancel arrived
    (folder,) = tmp_path.iterdir()
    from mora_agents.workspace import Workspace

    manifest = Workspace(folder).load_manifest()  # validates against RunManifest
    assert manifest.status == "failed" and "cancelled" in manifest.error
    assert [(s.id, s.status) for s in manifest.stages] == [("frame", "completed"), ("clip", "failed")]
    assert (folder / "stages" / "frame.png").is_file()
    assert not list(folder.glob("stages/clip*")), "the cancelled stage left a partial video"


@pytest.mark.slow  # the embedded LLM, then A2: over 3 s
def test_free_releases_the_llm_after_its_stage_too(tmp_path):
    spec_path = tmp_path / "enhance_then_frame.yaml"
    spec_path.write_text(
        """
name: enhance_then_frame
description: A1 then A2.
inputs:
  prompt: {type: text, required: true}
steps:
  - id: enhance
    agent: prompt_enhancer
    with: {prompt: $inputs.prompt}
  - id: frame
    agent: text_to_image
    with: {prompt: $enhance.prompt}
output: frame
"""
    )
    memory = ModelMemory("free")
    clients, llm_alive_when_frame_loads = [], []

    def watch(key, tool):
        gc.collect()
        if key.startswith("llm/"):
            clients.append(weakref.ref(tool.client))
        else:
            llm_alive_when_frame_loads.append(any(ref() is not None for ref in clients))

    memory.on_load(watch)
    _, manifest = run(SopSpec.from_file(spec_path), tmp_path / "runs", memory)
    # The LLM answered (a usable prompt or not, as its words decide); what matters here is when it was released.
    assert manifest.status == "completed" and manifest.enhanced_prompt.model == manifest.llm
    assert manifest.enhanced_prompt.source in ("llm", "fallback")
    assert len(clients) == 1 and llm_alive_when_frame_loads == [False]
