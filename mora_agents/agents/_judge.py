"""Judges: rank candidate images or videos under one criterion (paper App. A.6, the ten criteria of Table 3).

A :class:`JudgeAgent` answers ``StructuredMessage[JudgeRequest]`` with ``StructuredMessage[JudgeVerdict]`` through a
backend:

* :class:`OpenAIJudge`: a multimodal model behind an OpenAI-compatible endpoint (the paper used LLaVA-OneVision and
  Qwen2-VL; any vLLM / llama.cpp / OpenAI vision model serves). A few evenly spaced frames per candidate travel as
  PNG data URLs; the JSON answer is validated into a verdict, asked again once, else the judge abstains.
* :class:`MetricJudge`: a weighted score of weight-free metrics (``mora_agents.evaluation.metrics``); works offline,
  no weights.
  Unless given fixed weights, it weighs the metrics the request's criterion implies (:data:`CRITERION_WEIGHTS`).

A judge that cannot judge *abstains* (``abstained=True``); that is not the same as finding no candidate acceptable
(``top=None``), and a panel leaves abstentions out of the vote.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from autogen_agentchat.agents import BaseChatAgent
from autogen_agentchat.base import Response
from autogen_agentchat.messages import BaseChatMessage, StructuredMessage
from autogen_core import CancellationToken
from PIL import Image
from pydantic import ValidationError

from mora_agents.containment import resolve_inside
from mora_agents.errors import MoraError
from mora_agents.media_guard import read_image
from mora_agents.messages import ImageArtifact, JudgeRequest, JudgeVerdict, VideoArtifact
from mora_agents.resources import role_prompt
from mora_tools.loading.endpoints import endpoint_from_env

CRITERIA = (
    "Visual clarity and resolution: sharpness, smooth transitions, low noise.",
    "Object consistency and scene stability across frames, including how objects move and interact.",
    "Temporal coherence: the best frame-to-frame continuity.",
    "Narrative coherence: logical progression, consistent storytelling.",
    "Lighting and colour: consistent lighting across transitions, uniform colour.",
    "Realism of objects, backgrounds, textures and scene complexity (most to least realistic).",
    "Relevance to the task: theme alignment, fit for the request.",
    "Aesthetic quality: composition, balance, overall visual appeal.",
    "Noise and artifacts: the cleanest, smoothest output.",
    "Frame-rate consistency and natural motion, without lag or stutter.",
)
"""The paper's ten judging criteria (Table 3); the learning loop picks one at random per candidate set."""

OVERALL_CRITERION = "Overall quality under all ten criteria, relevance to the request first."
"""The criterion for stage reviews, where one result is judged rather than a set ranked."""

ENV_MODEL = "MORA_JUDGE_MODEL"

DEFAULT_WEIGHTS = {"motion_smoothness": 1.0, "flicker": -1.0, "dynamic_degree": 0.5}
"""Metric judge: smooth, steady motion first; some motion is better than none. Negative: lower is better. Used for
stage reviews (:data:`OVERALL_CRITERION`) and any criterion :data:`CRITERION_WEIGHTS` has no row for."""
DEFAULT_THRESHOLD = 0.5
"""Metric judge: a candidate scoring below this (score in [0, 1]) is not acceptable."""


@dataclass(frozen=True)
class CriterionWeights:
    """One row of :data:`CRITERION_WEIGHTS`: what the metric judge weighs under one of the paper's criteria."""

    name: str
    """The criterion's short name, the words its sentence starts with (also matched on its own, any case)."""
    weights: Mapping[str, float]
    """Weight-free metric -> weight, as :class:`MetricJudge` takes them (negative: lower is better)."""
    why: str
    """Which visible property each metric stands for; where no weight-free metric measures the criterion, what
    stands in for it."""


CRITERION_WEIGHTS: dict[str, CriterionWeights] = {
    CRITERIA[0]: CriterionWeights(
        "Visual clarity",
        {"frame_consistency": 1.0, "flicker": -1.0, "seam_drift": -0.5},
        "no weight-free sharpness measure: noise lowers the SSIM of neighbouring frames and changes their pixels; "
        "rough transitions jump",
    ),
    CRITERIA[1]: CriterionWeights(
        "Object consistency",
        {"frame_consistency": 1.0, "seam_drift": -1.0, "motion_smoothness": 0.5},
        "a stable scene keeps its structure from frame to frame and never jumps; what moves, moves predictably",
    ),
    CRITERIA[2]: CriterionWeights(
        "Temporal coherence",
        {"motion_smoothness": 1.0, "seam_drift": -1.0, "frame_consistency": 0.5},
        "continuity: each in-between frame follows from its neighbours, no jumps between segments",
    ),
    CRITERIA[3]: CriterionWeights(
        "Narrative coherence",
        {"dynamic_degree": 1.0, "seam_drift": -1.0, "motion_smoothness": 0.5},
        "no weight-free measure of a story: something has to happen, without breaks in continuity",
    ),
    CRITERIA[4]: CriterionWeights(
        "Lighting and colour",
        {"flicker": -1.0, "seam_drift": -1.0},
        "brightness and colour changing between frames, colour-histogram jumps at seams",
    ),
    CRITERIA[5]: CriterionWeights(
        "Realism",
        {"motion_smoothness": 1.0, "dynamic_degree": 0.5, "frame_consistency": 0.5},
        "no realism model offline: real scenes move, plausibly (predictable in-betweens), and keep their structure",
    ),
    CRITERIA[6]: CriterionWeights(
        "Relevance to the task",
        dict(DEFAULT_WEIGHTS),
        "needs the request and a vision-language model, which the metric judge has not: the default weights "
        "(general quality); an openai judge is the one for this criterion",
    ),
    CRITERIA[7]: CriterionWeights(
        "Aesthetic quality",
        {"frame_consistency": 1.0, "flicker": -0.5, "motion_smoothness": 0.5},
        "no aesthetic model offline: a steady, clean picture with smooth motion",
    ),
    CRITERIA[8]: CriterionWeights(
        "Noise and artifacts",
        {"flicker": -1.0, "motion_smoothness": 1.0, "seam_drift": -0.5},
        "noise changes pixels between frames; artifacts break the rebuilt in-between frames and the seams",
    ),
    CRITERIA[9]: CriterionWeights(
        "Frame-rate consistency",
        {"motion_smoothness": 1.0, "dynamic_degree": 1.0, "seam_drift": -0.5},
        "stutter and lag break frame interpolation; natural motion is motion; dropped or repeated frames jump",
    ),
}
"""The metric judge's weights for each of the paper's ten criteria (Table 3), one row per criterion.

Only the five weight-free metrics are at hand offline (``dynamic_degree``, ``motion_smoothness``, ``flicker``,
``frame_consistency``, ``seam_drift``): criteria about what a picture shows (realism, relevance, aesthetics, the
story) get the visible properties that go with them, as each row's ``why`` says; a vision-language judge
(``openai:MODEL``) reads the criterion itself."""


def criterion_weights(criterion: str) -> tuple[str, dict[str, float]]:
    """The weights ``criterion`` implies and the name of the row they come from.

    A criterion matches a row of :data:`CRITERION_WEIGHTS` by its whole sentence, or by starting with the row's short
    name in any case ("temporal coherence"); anything else (the stage reviews' :data:`OVERALL_CRITERION`, a criterion
    of one's own) gets :data:`DEFAULT_WEIGHTS` under the name ``default``.
    """
    row = CRITERION_WEIGHTS.get(criterion)
    if row is None:
        text = criterion.strip().lower()
        row = next((row for row in CRITERION_WEIGHTS.values() if text.startswith(row.name.lower())), None)
    if row is None:
        return "default", dict(DEFAULT_WEIGHTS)
    return row.name, dict(row.weights)


class JudgeBackend(Protocol):
    """Ranks the candidates of one request; called off the event loop (it may block on I/O or decoding)."""

    name: str
    """Recorded in every verdict's ``judge``."""

    def judge(self, request: JudgeRequest, files_root: Path) -> JudgeVerdict: ...


class JudgeAgent(BaseChatAgent):
    """Answers a ``StructuredMessage[JudgeRequest]`` with a ``StructuredMessage[JudgeVerdict]``.

    Args:
        name: agent name (an identifier).
        backend: who ranks (:class:`OpenAIJudge`, :class:`MetricJudge`, or any :class:`JudgeBackend`).
        files_root: the folder the candidates' paths are relative to (the run folder); set later by whoever
            runs the SOP when not known yet.
    """

    def __init__(self, name: str, backend: JudgeBackend, files_root: Path | None = None) -> None:
        super().__init__(name=name, description=f"Judge ({backend.name}): ranks candidate images or videos.")
        self.backend = backend
        self.files_root = files_root

    @property
    def produced_message_types(self) -> Sequence[type[BaseChatMessage]]:
        return (StructuredMessage[JudgeVerdict],)

    async def on_messages(self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken) -> Response:
        request = getattr(messages[-1], "content", None) if messages else None
        if not isinstance(request, JudgeRequest):
            raise TypeError(f"{self.name} expects StructuredMessage[JudgeRequest]")
        root = self.files_root or Path.cwd()
        # Decoding frames and waiting on a server both block: keep them off the event loop.
        verdict = await asyncio.to_thread(self.backend.judge, request, root)
        return Response(chat_message=StructuredMessage[JudgeVerdict](content=verdict, source=self.name))

    async def on_reset(self, cancellation_token: CancellationToken) -> None:
        """A judge keeps no state between requests."""


class MetricJudge:
    """Ranks videos by a weighted score of weight-free metrics; offline, deterministic.

    The score is a weighted mean in [0, 1]: a positive weight counts the metric's value, a negative one counts
    ``1 - value`` (lower is better, e.g. ``flicker``), each by the weight's size. Metrics without a value (a
    one-frame video) are left out of that candidate's mean.

    Args:
        weights: metric name (from ``mora_agents.evaluation.metrics.WEIGHT_FREE_METRICS``) -> weight, the same for
            every request; ``None``: each request's criterion chooses them (:func:`criterion_weights`).
        threshold: the lowest acceptable score; default :data:`DEFAULT_THRESHOLD`.
    """

    def __init__(self, weights: Mapping[str, float] | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.weights = _checked_weights(weights) if weights else None
        self.threshold = threshold
        if self.weights is None:
            self.name = f"metric:by-criterion,threshold={threshold:g}"
        else:
            self.name = f"metric:{_terms(self.weights)},threshold={threshold:g}"

    def score(self, path: Path, weights: Mapping[str, float] | None = None) -> tuple[float | None, str]:
        """The candidate's score (``None`` when no metric had a value) and the numbers behind it.

        Args:
            path: the video.
            weights: the weights to score by; default: the judge's fixed weights, else :data:`DEFAULT_WEIGHTS`.
        """
        from mora_agents.evaluation.metrics import weight_free_metrics

        weights = dict(weights or self.weights or DEFAULT_WEIGHTS)
        names = [name for name, weight in weights.items() if weight]
        results = weight_free_metrics(path, names)
        total = weight_sum = 0.0
        shown = []
        for name in names:
            value, weight = results[name].value, weights[name]
            if value is None:
                shown.append(f"{name}=n/a")
                continue
            total += abs(weight) * (value if weight > 0 else 1.0 - value)
            weight_sum += abs(weight)
            shown.append(f"{name}={value:.3f}")
        return (total / weight_sum if weight_sum else None), ", ".join(shown)

    def judge(self, request: JudgeRequest, files_root: Path) -> JudgeVerdict:
        if any(not isinstance(candidate, VideoArtifact) for candidate in request.candidates):
            # Motion metrics say nothing about a still image: no vote rather than a made-up one.
            return _abstain(self.name, "the metric judge judges videos only")
        if self.weights is not None:
            weights, basis = self.weights, ""
        else:
            row, weights = criterion_weights(request.criterion)
            basis = f"criterion {row}: {_terms(weights)}; "
        scores: dict[int, float] = {}
        notes = []
        for index, candidate in enumerate(request.candidates):
            try:
                value, shown = self.score(_candidate_file(files_root, candidate, index), weights)
            except MoraError as error:
                return _abstain(self.name, f"candidate {index}: {error}")
            notes.append(f"#{index}: score {'n/a' if value is None else f'{value:.3f}'} ({shown})")
            if value is not None:
                scores[index] = value
        if not scores:
            return _abstain(self.name, "no metric had a value for any candidate; " + "; ".join(notes))
        ranking = sorted(scores, key=lambda index: (-scores[index], index))
        best = ranking[0]
        top = best if scores[best] >= self.threshold else None
        verdict = "none acceptable" if top is None else f"#{best} best"
        reasons = f"{basis}{verdict} (threshold {self.threshold:g}): " + "; ".join(notes)
        return JudgeVerdict(judge=self.name, ranking=ranking, top=top, reasons=reasons)


def _checked_weights(weights: Mapping[str, float]) -> dict[str, float]:
    from mora_agents.evaluation.metrics import WEIGHT_FREE_METRICS

    checked = dict(weights)
    unknown = [name for name in checked if name not in WEIGHT_FREE_METRICS]
    if unknown:
        raise MoraError(f"the metric judge knows no metric '{unknown[0]}': use {', '.join(WEIGHT_FREE_METRICS)}")
    if not any(checked.values()):
        raise MoraError("the metric judge needs at least one non-zero weight, e.g. metric:motion_smoothness=1")
    return checked


def _terms(weights: Mapping[str, float]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in weights.items())


class OpenAIJudge:
    """A multimodal judge over an OpenAI-compatible chat completions endpoint that accepts images.

    Args:
        model: the model name the endpoint knows (e.g. ``llava-onevision-qwen2-7b-ov``, ``Qwen2-VL-7B-Instruct``).
        base_url: the endpoint (``http://host:port/v1``); ``None``: OpenAI's.
        api_key: the key; local servers take any string.
        frames: frames per video candidate, evenly spaced from first to last.
        max_side: long side of each frame sent, in pixels.
        timeout: seconds per request.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        frames: int = 4,
        max_side: int = 384,
        timeout: float = 120.0,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.frames = frames
        self.max_side = max_side
        self.name = f"openai:{model}@{base_url or 'api.openai.com'}"
        # No client-side retries: an unusable answer is asked again exactly once, by judge(), and a hung server
        # must not stall a review.
        self._client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=0)

    @classmethod
    def from_env(cls, model: str | None = None) -> OpenAIJudge:
        """A judge from ``MORA_JUDGE_MODEL`` / ``_BASE_URL`` / ``_API_KEY`` (else ``OPENAI_API_KEY``) / ``_TIMEOUT``.

        Raises:
            MoraError: no model, or neither a base URL nor an OpenAI key.
        """
        model = model or os.environ.get(ENV_MODEL)
        if not model:
            raise MoraError(f"the openai judge needs a model: --judge openai:MODEL or {ENV_MODEL}")
        endpoint = endpoint_from_env("MORA_JUDGE", "openai judge", default_timeout=120)
        return cls(model, base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=endpoint.timeout)

    def judge(self, request: JudgeRequest, files_root: Path) -> JudgeVerdict:
        from openai import OpenAIError

        try:
            content = self._content(request, files_root)
        except MoraError as error:
            return _abstain(self.name, f"could not read the candidates: {error}")
        messages: list[dict] = [
            {"role": "system", "content": role_prompt("judge")},
            {"role": "user", "content": content},
        ]
        problem = ""
        for attempt in range(2):
            try:
                response = self._client.chat.completions.create(model=self.model, messages=messages, temperature=0.0)
            except OpenAIError as error:
                return _abstain(self.name, f"the server failed: {_first_line(error)}")
            answer = (response.choices[0].message.content or "") if response.choices else ""
            try:
                return _parse_verdict(answer, len(request.candidates), self.name)
            except ValueError as error:
                problem = str(error)
            if attempt == 0:
                # Say what was wrong once: small vision models often fix the format when told.
                messages += [
                    {"role": "assistant", "content": answer},
                    {"role": "user", "content": f"That answer was unusable ({problem}). Reply with the JSON only."},
                ]
        return _abstain(self.name, f"two unusable answers, the last: {problem}")

    def _content(self, request: JudgeRequest, files_root: Path) -> list[dict]:
        count = len(request.candidates)
        text = (
            f"Request: {request.request or '(not given)'}\nCriterion: {request.criterion}\n"
            f"{count} candidate(s), numbered 0 to {count - 1}; the images of each follow its label."
        )
        content: list[dict] = [{"type": "text", "text": text}]
        for index, candidate in enumerate(request.candidates):
            images = _candidate_images(
                _candidate_file(files_root, candidate, index), candidate, self.frames, self.max_side
            )
            what = "image" if isinstance(candidate, ImageArtifact) else f"video, {len(images)} frames in order"
            content.append({"type": "text", "text": f"Candidate {index} ({what}):"})
            content += [{"type": "image_url", "image_url": {"url": _data_url(image)}} for image in images]
        return content


def judge_from_spec(spec: str, index: int = 0) -> JudgeAgent:
    """Build a judge from a CLI / config spec.

    Specs: ``metric`` (weights chosen by each request's criterion: :data:`CRITERION_WEIGHTS`), ``metric:threshold=0.6``
    (the same, another threshold), ``metric:motion_smoothness=1,flicker=-1,threshold=0.6`` (fixed weights), ``openai``
    (model from ``MORA_JUDGE_MODEL``), ``openai:MODEL``.

    Raises:
        MoraError: an unknown kind, or a malformed weight.
    """
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind == "metric":
        weights: dict[str, float] = {}
        threshold = DEFAULT_THRESHOLD
        for term in filter(None, (part.strip() for part in rest.split(","))):
            name, sep, value = term.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = None
            if not sep or number is None:
                raise MoraError(f"judge spec '{spec}': '{term}' is not name=number, e.g. motion_smoothness=1")
            if name.strip() == "threshold":
                threshold = number
            else:
                weights[name.strip()] = number
        return JudgeAgent(f"judge{index}_metric", MetricJudge(weights or None, threshold))
    if kind == "openai":
        return JudgeAgent(f"judge{index}_openai", OpenAIJudge.from_env(rest.strip() or None))
    raise MoraError(f"unknown judge '{spec}': use metric, metric:NAME=WEIGHT,...,threshold=T, openai, or openai:MODEL")


def _parse_verdict(answer: str, count: int, judge: str) -> JudgeVerdict:
    """Validate a model's JSON answer against ``count`` candidates.

    Raises:
        ValueError: not JSON, not an object, or a ranking / top that does not fit the candidates.
    """
    text = answer.strip()
    if text.startswith("```"):
        # Models like to fence JSON even when told not to.
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError(f"not JSON: {answer.strip()[:80]!r}") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        verdict = JudgeVerdict(
            judge=judge, ranking=data.get("ranking"), top=data.get("top"), reasons=str(data.get("reasons", ""))
        )
    except ValidationError as error:
        raise ValueError(error.errors()[0]["msg"]) from None
    if sorted(verdict.ranking) != list(range(count)):
        raise ValueError(f"the ranking must order all {count} candidates (0 to {count - 1}), got {verdict.ranking}")
    return verdict


def _candidate_images(path: Path, candidate: ImageArtifact | VideoArtifact, frames: int, max_side: int):
    """The still, or ``frames`` evenly spaced frames of the video, each at most ``max_side`` on its long side."""
    if isinstance(candidate, ImageArtifact):
        image = read_image(path)
        image.thumbnail((max_side, max_side))
        return [image]
    from mora_agents.evaluation.metrics.frames import iter_frames

    return [
        Image.fromarray(frame.image) for frame in iter_frames(path, max_side=max_side, sample="uniform_k", k=frames)
    ]


def _candidate_file(files_root: Path, candidate: ImageArtifact | VideoArtifact, index: int) -> Path:
    """A candidate's file, checked to lie inside ``files_root`` (its path may come from a file: a set's state)."""
    return resolve_inside(files_root, candidate.path, what=f"judge request candidate {index}", folder="the run folder")


def _abstain(judge: str, reason: str) -> JudgeVerdict:
    return JudgeVerdict(judge=judge, abstained=True, reasons=reason)


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
