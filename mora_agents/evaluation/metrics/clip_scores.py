"""Scores from CLIP-family models: ``aesthetic_quality``, ``appearance_style``, ``temporal_style`` (VBench), and
``imaging_quality``, which is not available here.

* ``aesthetic_quality``: LAION's aesthetic predictor, a linear head on the L2-normalised CLIP ViT-L/14 image
  embedding, divided by 10 and averaged over the sampled frames (VBench ``aesthetic_quality``).
* ``appearance_style``: mean over the sampled frames of cos(CLIP image embedding, CLIP text embedding). VBench
  reports ``logits_per_text / 100`` of OpenAI's CLIP, whose logit scale is exactly 100: that is this cosine.
* ``temporal_style``: cos(video embedding, text embedding) of a video-text model. VBench uses ViCLIP, which is not in
  transformers; X-CLIP (``XCLIPModel``) stands in, and its method string says so.
"""

from __future__ import annotations

import os

from mora_agents.evaluation.metrics.features import (
    SamplingPlan,
    batched,
    clip_image_features,
    clip_text_features,
    plan_sampling,
    sample_frames,
)
from mora_agents.evaluation.metrics.models import LoadedModel, MetricModels
from mora_agents.evaluation.metrics.result import MetricResult

IMAGING_QUALITY_METHOD = "not available: pyiqa needs torchvision"
IMAGING_QUALITY_REASON = (
    "MUSIQ, VBench's imaging_quality model, is packaged only in pyiqa, which requires torchvision, and mora does not "
    "install torchvision because it would pull in a second torch build"
)


def aesthetic_quality(video: str | os.PathLike, models: MetricModels) -> MetricResult:
    """VBench ``aesthetic_quality``: LAION aesthetic predictor score of each sampled frame, / 10, averaged.

    Args:
        video (`str` or `os.PathLike`): the video file.
        models (`MetricModels`): the metrics profile's models (``aesthetic.clip_model`` and ``aesthetic.head``).

    Returns:
        `MetricResult`: value in [0, 1]. LAION's head is an unbounded linear map (its scores sit in about 1-10);
        VBench does not clip, this does, and ``details`` keeps the unclipped mean (``laion_score``, 1-10 scale).
    """
    import torch

    loaded = models.clip("aesthetic_quality")
    head = models.aesthetic_head()
    plan = plan_sampling(video, models.profile.aesthetic.sampling)
    total, frames = 0.0, 0
    for batch in batched(sample_frames(video, plan)):
        with torch.inference_mode():
            scores = head(clip_image_features(loaded, batch)).squeeze(-1) / 10
        total += float(scores.sum())
        frames += len(batch)
    method = (
        f"LAION aesthetic predictor: linear head ({models.profile.aesthetic.head}) on normalised CLIP image "
        f"embeddings ({loaded.reference}), / 10, mean over sampled frames, clipped to [0, 1], as VBench "
        "aesthetic_quality"
    )
    mean = total / frames
    return MetricResult(
        name="aesthetic_quality",
        value=min(1.0, max(0.0, mean)),
        range=(0.0, 1.0),
        method=method,
        details={"frames": frames, "sampling": plan.describe(), "laion_score": round(mean * 10, 6)},
    )


def appearance_style(video: str | os.PathLike, text: str, models: MetricModels) -> MetricResult:
    """VBench ``appearance_style``: how well each sampled frame matches a style description, by CLIP.

    Args:
        video (`str` or `os.PathLike`): the video file.
        text (`str`): the style description (VBench: e.g. "Van Gogh style"; here also the request's prompt).
        models (`MetricModels`): the metrics profile's models (``text_alignment.image_model``).

    Returns:
        `MetricResult`: value in [-1, 1], the mean cosine (real CLIP scores of good matches sit around 0.2-0.3).
    """
    if not text.strip():
        raise ValueError("`text` must describe the appearance style to score, got an empty string")
    loaded = models.clip("appearance_style")
    plan = plan_sampling(video, models.profile.text_alignment.sampling)
    text_features = clip_text_features(loaded, [text])[0]
    total, frames = 0.0, 0
    for batch in batched(sample_frames(video, plan)):
        total += float((clip_image_features(loaded, batch) @ text_features).sum())
        frames += len(batch)
    method = (
        f"CLIP ({loaded.reference}) frame-text cosine, mean over sampled frames (VBench appearance_style's "
        "logits_per_text / 100 at CLIP's logit scale of 100)"
    )
    return MetricResult(
        name="appearance_style",
        value=_clip_unit(total / frames),
        range=(-1.0, 1.0),
        method=method,
        details={"frames": frames, "sampling": plan.describe(), "text": text},
    )


def xclip_video_frames(video: str | os.PathLike, loaded: LoadedModel) -> list:
    """The ``num_frames`` frames X-CLIP sees of ``video`` (its config's count, spread evenly from first to last),
    as its processor's ``pixel_values`` of shape ``(1, frames, 3, H, W)``. A video with fewer frames has its last
    frame repeated: X-CLIP's temporal transformer takes exactly ``num_frames``."""
    count = loaded.model.config.vision_config.num_frames
    frames = list(sample_frames(video, SamplingPlan("uniform_k", k=count)))
    frames += [frames[-1]] * (count - len(frames))
    return loaded.processor([frames], return_tensors="pt")["pixel_values"]


def xclip_video_features(video: str | os.PathLike, loaded: LoadedModel):
    """X-CLIP's L2-normalised video embedding (``get_video_features``) of ``video``, shape ``(dim,)``."""
    import torch

    pixels = xclip_video_frames(video, loaded).to(next(loaded.model.parameters()).device)
    with torch.inference_mode():
        output = loaded.model.get_video_features(pixel_values=pixels)
        features = getattr(output, "pooler_output", output).float()
    return torch.nn.functional.normalize(features, dim=-1)[0]


def temporal_style(video: str | os.PathLike, text: str, models: MetricModels) -> MetricResult:
    """VBench ``temporal_style``: how well the video's motion and camera work match a description, by a video-text
    model (X-CLIP standing in for VBench's ViCLIP).

    Args:
        video (`str` or `os.PathLike`): the video file.
        text (`str`): the temporal style description (VBench: e.g. "camera pans left"; here also the prompt).
        models (`MetricModels`): the metrics profile's models (``text_alignment.video_model``).

    Returns:
        `MetricResult`: value in [-1, 1]: cos(video embedding, text embedding), X-CLIP's text embedding being
        prompted by the video's frames as X-CLIP computes it for video-text matching.
    """
    import torch

    if not text.strip():
        raise ValueError("`text` must describe the temporal style to score, got an empty string")
    loaded = models.xclip("temporal_style")
    device = next(loaded.model.parameters()).device
    pixels = xclip_video_frames(video, loaded).to(device)
    limit = min(loaded.tokenizer.model_max_length, loaded.model.config.text_config.max_position_embeddings)
    tokens = loaded.tokenizer([text], padding=True, truncation=True, max_length=limit, return_tensors="pt")
    with torch.inference_mode():
        output = loaded.model(pixel_values=pixels, **{k: v.to(device) for k, v in tokens.items()})
        # Both come normalised: video_embeds (1, dim), text_embeds (1 video, 1 text, dim).
        cosine = float((output.video_embeds[0] * output.text_embeds[0, 0]).sum())
    count = loaded.model.config.vision_config.num_frames
    method = (
        f"X-CLIP ({loaded.reference}) video-text cosine over {count} evenly spread frames, standing in for "
        "VBench temporal_style's ViCLIP (not available in transformers)"
    )
    return MetricResult(
        name="temporal_style",
        value=_clip_unit(cosine),
        range=(-1.0, 1.0),
        method=method,
        details={"frames": count, "text": text},
    )


def imaging_quality(video: str | os.PathLike | None = None, models: MetricModels | None = None) -> MetricResult:
    """VBench ``imaging_quality`` (MUSIQ trained on SPAQ): not available in mora, always ``None`` with the reason.

    Args:
        video: accepted for a uniform call signature; not read.
        models: accepted for a uniform call signature; not used.
    """
    return MetricResult.unavailable("imaging_quality", (0.0, 1.0), IMAGING_QUALITY_METHOD, IMAGING_QUALITY_REASON)


def _clip_unit(value: float) -> float:
    # Rounding can put a cosine of unit vectors a hair outside [-1, 1].
    return min(1.0, max(-1.0, value))
