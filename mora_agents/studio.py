"""The studio: assembles agents for a profile, an LLM and a review mode, and runs one task.

This is the composition root every front end shares (the CLI, chat, replayed sessions, a server): it builds
tools lazily, wires them into agents, and hands everything to the SOP runner. :class:`Studio` is the async
API: ``await studio.run(spec, request, out_dir, reviewer=..., on_event=..., cancellation_token=...)``, models
shared across runs through one :class:`~mora_tools.loading.memory.ModelMemory`. What a run does reaches the front end as
typed events (:data:`~mora_agents.messages.StudioEvent`), the pipelines' step progress included; who reviews is
an injected :data:`~mora_agents.agents.Reviewer`. :func:`run_task` / :func:`resume_task` are the blocking
forms, for scripts and ``mora learn``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml
from autogen_core import CancellationToken

from mora_agents import __version__
from mora_agents.agents import (
    HumanProxyAgent,
    JudgePanelReviewer,
    Reviewer,
    ScriptedDecisions,
    ToolOptions,
    auto_accept,
    console_input,
    judge_from_spec,
    make_agents,
)
from mora_agents.errors import CancelledError, MoraError
from mora_agents.media import load_image, video_frame
from mora_agents.messages import (
    ArtifactReady,
    ReviewDecided,
    RunCancelled,
    RunFailed,
    RunFinished,
    StageNote,
    StepProgress,
    StudioEvent,
    VideoRequest,
)
from mora_agents.sop import EventSink, MediaFormat, SopRunner, SopSpec, describe_output, finished_stages, roles_used
from mora_agents.workspace import RunManifest, Workspace, new_run_id, now_iso, write_text_atomic
from mora_tools.loading.memory import POLICIES, ModelMemory
from mora_tools.pipelines.progress import NullProgress, ProgressSink

REVIEW_MODES = ("auto", "console", "scripted", "judge")
ENGINES = ("local", "ray")
DTYPES = ("float32", "float16", "bfloat16")
SOP_COPY = "sop.yaml"
"""The run folder's copy of the SOP it runs: resuming needs no search path."""


@dataclass
class StudioConfig:
    """How a run is made: which models, which LLM, who reviews."""

    profile: str = "tiny"
    llm: str | None = None
    """``embedded`` or ``openai``; ``None`` reads ``MORA_LLM_BACKEND`` / ``MORA_LLM_BASE_URL``."""
    review: str = "auto"
    decisions: list[str] = field(default_factory=list)
    """Scripted review answers, in order (``accept``, ``regenerate``, ``edit <instruction>``)."""
    device: str | None = None
    """Torch device (``cuda``, ``mps``, ``cpu``); ``None``: the best found."""
    dtype: str | None = None
    """``float32``, ``float16`` or ``bfloat16``, overriding the profile's; ``None``: the profile's."""
    memory: str | None = None
    """Memory policy (``free``, ``offload``, ``keep``) overriding the profile's; ``None``: the profile's."""
    compile: bool = False
    """``torch.compile`` the denoisers when they load (pays on a GPU over many steps; slow first step)."""
    adapters: str | None = None
    """A ``mora learn train`` run folder (or its ``adapters/``): LoRA weights and modulation embeddings applied to
    the agents it trained; ``None``: the profile's models as they are."""
    size: tuple[int, int] | None = None
    """Frame size (width, height) instead of the profile's, fitted to what the profile makes
    (:func:`mora_tools.loading.profiles.fit_frame_size`); ``None``: the profile's."""
    engine: str = "local"
    """``local`` (every model in this process) or ``ray`` (each role's tool an actor of a Ray cluster)."""
    ray_address: str | None = None
    """Engine ``ray``: the cluster to join (``auto``, ``HOST:PORT``); ``None``: join the local one or start it."""
    judges: list[str] = field(default_factory=list)
    """Review mode ``judge``: judge specs (``metric``, ``metric:motion_smoothness=1,flicker=-1,threshold=0.6``,
    ``openai``, ``openai:MODEL``); the human part is scripted with ``decisions``, else the console."""


def make_reviewer(config: StudioConfig, human: Reviewer | None = None) -> HumanProxyAgent | JudgePanelReviewer:
    """The reviewer for ``config.review``: a human proxy, or (``judge``) a judge panel with a human tie-break.

    ``human`` (a server's or a web page's :data:`~mora_agents.agents.Reviewer`) answers instead of the console:
    every review, or with ``judge`` the tie-breaks.
    """
    if config.review == "judge":
        if not config.judges:
            raise MoraError("review mode judge needs at least one judge: --judge metric, or --judge openai:MODEL")
        judges = [judge_from_spec(spec, index) for index, spec in enumerate(config.judges)]
        # The tie-break human: injected, scripted when answers were given, else asked on the console.
        if human is not None:
            person = HumanProxyAgent("human_proxy", reviewer=human)
        elif config.decisions:
            person = HumanProxyAgent("human_proxy", ScriptedDecisions(config.decisions), mode="scripted")
        else:
            person = HumanProxyAgent("human_proxy", console_input, mode="console", interactive=True)
        return JudgePanelReviewer("judge_panel", judges, person)
    if human is not None:
        return HumanProxyAgent("human_proxy", reviewer=human)
    if config.review == "auto":
        return HumanProxyAgent("human_proxy", auto_accept, mode="auto")
    if config.review == "console":
        return HumanProxyAgent("human_proxy", console_input, mode="console", interactive=True)
    if config.review == "scripted":
        if not config.decisions:
            raise MoraError(
                "scripted review needs decisions, one per review in order (--decision for generate, "
                "decisions: in a session turn), or use --review auto"
            )
        return HumanProxyAgent("human_proxy", ScriptedDecisions(config.decisions), mode="scripted")
    raise MoraError(f"unknown review mode '{config.review}': choose one of {', '.join(REVIEW_MODES)}")


def media_format(profile) -> MediaFormat:
    """The run's frame size (A2's image size) and rate (A4's fps)."""
    return MediaFormat(profile.text_to_image.width, profile.text_to_image.height, profile.image_to_video.fps)


def check_media(spec: SopSpec, inputs: dict) -> None:
    """Open every image and video input once, so a wrong or corrupt file fails before a run folder exists."""
    for name, value in inputs.items():
        kind = spec.inputs[name].type
        if kind == "image":
            load_image(value)
        elif kind == "video":
            video_frame(value, "first")


class EventProgress:
    """The pipelines' progress (a :class:`~mora_tools.pipelines.progress.ProgressSink`) as :class:`StepProgress`
    events."""

    def __init__(self, on_event: EventSink, run_id: str) -> None:
        self.on_event = on_event
        self.run_id = run_id
        self._bars: dict[str, tuple[int, int, str]] = {}

    def start(self, stage: str, total: int, description: str = "") -> None:
        self._bars[stage] = (0, total, description)
        self.on_event(StepProgress(run_id=self.run_id, task=stage, step=0, total=total, description=description))

    def advance(self, stage: str, steps: int = 1) -> None:
        step, total, description = self._bars.get(stage, (0, 0, ""))
        self._bars[stage] = (step + steps, total, description)
        self.on_event(
            StepProgress(run_id=self.run_id, task=stage, step=step + steps, total=total, description=description)
        )

    def finish(self, stage: str) -> None:
        step, total, description = self._bars.pop(stage, (0, 0, ""))
        event = StepProgress(run_id=self.run_id, task=stage, step=step, total=total, description=description, done=True)
        self.on_event(event)


def describe_event(event: StudioEvent) -> str | None:
    """The line a console prints for ``event`` (``None``: nothing to print; progress bars show the steps)."""
    if isinstance(event, ArtifactReady):
        return f"{event.stage} #{event.iteration}: {describe_output(event.artifact)}"
    if isinstance(event, ReviewDecided):
        return f"{event.stage} #{event.iteration}: review -> {event.decision} ({event.decision.by})"
    if isinstance(event, StageNote):
        return f"{event.stage}: {event.text}"
    return None


class ConsoleEvents:
    """An :data:`EventSink` for a terminal: step events drive a progress sink's bars, the rest print as lines.

    Args:
        progress: the bars (``RichProgress`` in the CLI), a :class:`~mora_tools.pipelines.progress.ProgressSink`.
        log: prints one line (``progress.log`` by default, when the sink has one).
    """

    def __init__(self, progress: ProgressSink | None, log=None) -> None:
        progress = progress if progress is not None else NullProgress()
        self.progress = progress
        self.log = log or getattr(progress, "log", lambda line: None)
        self._steps: dict[str, int] = {}
        """The step each bar shows, by task."""

    def __call__(self, event: StudioEvent) -> None:
        if isinstance(event, StepProgress):
            if event.task not in self._steps or (event.step == 0 and not event.done):
                self._steps[event.task] = 0
                self.progress.start(event.task, event.total, event.description)
            if event.done:
                del self._steps[event.task]
                self.progress.finish(event.task)  # where the steps left it: short when cancelled
            elif event.step > self._steps[event.task]:
                steps, self._steps[event.task] = event.step - self._steps[event.task], event.step
                self.progress.advance(event.task, steps)
            return
        line = describe_event(event)
        if line is not None:
            self.log(line)


class Studio:
    """Runs tasks: the async API every front end shares.

    Args:
        config: profile, LLM, review mode, device, memory policy.
        memory: the loaded models, shared by every run of this studio (a server's or a chat's); ``None``: each
            run loads its own under the profile's policy and releases it at the end.

    Example:
        >>> studio = Studio(StudioConfig(profile="tiny"))
        >>> workspace, manifest = await studio.run(spec, request, "runs", on_event=print)
    """

    def __init__(self, config: StudioConfig, memory: ModelMemory | None = None) -> None:
        if config.engine not in ENGINES:
            raise MoraError(f"unknown engine '{config.engine}': choose one of {', '.join(ENGINES)}")
        if config.ray_address and config.engine != "ray":
            raise MoraError(f"--ray-address {config.ray_address} needs --engine ray (the engine is {config.engine})")
        self.config = config
        self.memory = memory
        self._cluster = None

    @property
    def cluster(self):
        """Engine ``ray``: the :class:`~mora_agents.cluster.RayCluster` the roles' actors run on (joined once)."""
        if self._cluster is None:
            from mora_agents.cluster import shared_cluster

            self._cluster = shared_cluster(self.config.ray_address)
        return self._cluster

    def _agents(self, spec, profile, config, workspace, progress, seed, memory):
        options = ToolOptions(device=config.device, adapters=config.adapters, llm=config.llm)
        if config.engine == "ray":
            return self.cluster.agents(roles_used(spec), profile, options, workspace, progress)
        return make_agents(roles_used(spec), profile, options, workspace, progress, seed, memory)

    async def run(
        self,
        spec: SopSpec,
        request: VideoRequest,
        out_dir: str | Path,
        *,
        reviewer: Reviewer | None = None,
        on_event: EventSink | None = None,
        cancellation_token: CancellationToken | None = None,
        run_id: str | None = None,
    ) -> tuple[Workspace, RunManifest]:
        """Validate everything that can be validated up front, then run ``spec`` into a new run folder.

        Bad inputs, an unknown profile or missing weights fail here, before any folder is created. The folder
        keeps a copy of the SOP (``sop.yaml``) and the manifest, which is all :meth:`resume` needs.

        Args:
            reviewer: decides every review (or, with review mode ``judge``, the tie-breaks); ``None``: the
                config's review mode.
            on_event: receives every :data:`~mora_agents.messages.StudioEvent` of the run, in order.

        Returns:
            The run's workspace and its final manifest.

        Raises:
            MoraError: one sentence; when the run had started, its manifest says ``failed`` with the reason.
        """
        check_media(spec, spec.bind_inputs(request.inputs))
        profile = _checked_profile(spec, self.config)
        if self.config.engine == "ray":
            _ = self.cluster  # joined now: an unreachable cluster fails before a run folder exists
        agent = make_reviewer(self.config, reviewer)
        run_id = run_id or new_run_id(spec.name)
        workspace = Workspace.create(out_dir, run_id)
        write_text_atomic(workspace.path(SOP_COPY), yaml.safe_dump(spec.model_dump(by_alias=True), sort_keys=False))
        manifest = RunManifest(
            run_id=run_id,
            mora_version=__version__,
            created=now_iso(),
            sop=spec.name,
            profile=profile.name,
            llm="(not used)",
            review=self.config.review if reviewer is None else "injected",
            request=request,
        )
        workspace.save_manifest(manifest)
        return await self._execute(spec, profile, self.config, agent, workspace, manifest, on_event, cancellation_token)

    async def resume(
        self,
        run_dir: str | Path,
        *,
        reviewer: Reviewer | None = None,
        on_event: EventSink | None = None,
        cancellation_token: CancellationToken | None = None,
    ) -> tuple[Workspace, RunManifest]:
        """Continue a run that was killed or failed, from its last finished stage.

        Finished stages are not redone; scripted review answers they already used are skipped.

        Raises:
            MoraError: the folder holds no run, or the run cannot continue (e.g. its models are gone).
        """
        workspace = Workspace(run_dir)
        manifest = workspace.load_manifest()
        try:
            spec = SopSpec.from_file(workspace.path(SOP_COPY))
        except MoraError:
            raise MoraError(
                f"{workspace.root} has no usable copy of its SOP ({SOP_COPY}): it cannot be resumed"
            ) from None
        if manifest.status == "completed":
            return workspace, manifest
        profile = _checked_profile(spec, self.config)
        # Scripted answers the finished stages used: the judges' own decisions took none.
        decisions = [it.decision for stage in finished_stages(manifest) for it in stage.iterations if it.decision]
        used = sum(1 for decision in decisions if decision.by != "judges")
        config = replace(self.config, decisions=self.config.decisions[used:])
        agent = make_reviewer(config, reviewer)
        return await self._execute(spec, profile, config, agent, workspace, manifest, on_event, cancellation_token)

    async def _execute(self, spec, profile, config, reviewer, workspace, manifest, on_event, token):
        emit = on_event or (lambda event: None)
        progress = EventProgress(emit, manifest.run_id)
        reviewer.files_root = workspace.root.resolve()
        own_memory = self.memory is None
        memory = self.memory or ModelMemory.for_profile(profile, config.memory, config.compile)
        manifest.memory_policy = memory.policy if config.engine == "local" else "keep"
        manifest.engine = config.engine
        try:
            agents = self._agents(spec, profile, config, workspace, progress, manifest.request.seed, memory)
            if "prompt_enhancer" in agents:
                manifest.llm = agents["prompt_enhancer"].model_name
            runner = SopRunner(
                spec, agents, reviewer, workspace, manifest, media_format(profile), emit, memory.stage_finished
            )
        except MoraError as error:
            manifest.status, manifest.error = "failed", str(error)
            workspace.save_manifest(manifest)
            emit(RunFailed(run_id=manifest.run_id, error=str(error)))
            raise
        try:
            await runner.run(token)
        except CancelledError as error:
            emit(RunCancelled(run_id=manifest.run_id, reason=str(error)))
            raise
        except BaseException as error:
            emit(RunFailed(run_id=manifest.run_id, error=manifest.error or str(error)))
            raise
        finally:
            # A failed or cancelled stage never reached its end: apply the policy now. A run's own memory
            # goes entirely (the models are dropped with the agents anyway).
            if own_memory:
                memory.release_all()
            else:
                memory.stage_finished()
        emit(RunFinished(run_id=manifest.run_id, output=manifest.output))
        return workspace, manifest


def run_task(
    spec: SopSpec,
    request: VideoRequest,
    out_dir: str | Path,
    config: StudioConfig,
    on_event: EventSink | None = None,
    cancellation_token: CancellationToken | None = None,
    run_id: str | None = None,
    memory: ModelMemory | None = None,
) -> tuple[Workspace, RunManifest]:
    """:meth:`Studio.run`, blocking: for scripts, benchmarks and ``mora learn`` (not for code with an event loop)."""
    studio = Studio(config, memory)
    return asyncio.run(
        studio.run(spec, request, out_dir, on_event=on_event, cancellation_token=cancellation_token, run_id=run_id)
    )


def resume_task(
    run_dir: str | Path,
    config: StudioConfig,
    on_event: EventSink | None = None,
    cancellation_token: CancellationToken | None = None,
    memory: ModelMemory | None = None,
) -> tuple[Workspace, RunManifest]:
    """:meth:`Studio.resume`, blocking: for scripts and ``mora learn``."""
    return asyncio.run(Studio(config, memory).resume(run_dir, on_event=on_event, cancellation_token=cancellation_token))


def _checked_profile(spec: SopSpec, config: StudioConfig):
    from mora_tools.loading.models import check_profile
    from mora_tools.loading.profiles import load_profile, with_frame_size

    if config.memory and config.memory not in POLICIES:
        raise MoraError(f"unknown memory policy '{config.memory}': choose one of {', '.join(POLICIES)}")
    profile = load_profile(config.profile)
    if config.dtype:
        if config.dtype not in DTYPES:
            raise MoraError(f"unknown dtype '{config.dtype}': choose one of {', '.join(DTYPES)}")
        # The command line wins over the profile's and every role's own precision.
        update = {role: settings.model_copy(update={"dtype": None}) for role, settings in profile.roles().items()}
        profile = profile.model_copy(update={"dtype": config.dtype, **update})
    if config.size:
        profile = with_frame_size(profile, *config.size)
    check_profile(profile, roles_used(spec))
    return profile
