"""The captioner, the model behind VideoTI (:func:`~mora_agents.evaluation.metrics.paper.video_text_integration`): a
multimodal LLM that writes one caption of a video's frames or of an image.

Captions come from a :class:`Captioner`; :class:`OpenAICaptioner` talks to any OpenAI-compatible chat endpoint that
takes images (``MORA_CAPTIONER_*`` in the environment: :func:`captioner_from_env`).
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mora_agents.errors import MoraError
from mora_agents.evaluation.metrics.frames import iter_frames
from mora_tools.loading.endpoints import endpoint_from_env

if TYPE_CHECKING:
    from PIL import Image

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


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


__all__ = [
    "CAPTION_MAX_SIDE",
    "ENV_MODEL",
    "IMAGE_INSTRUCTION",
    "NO_CAPTIONER",
    "VIDEO_INSTRUCTION",
    "Captioner",
    "CaptionerError",
    "OpenAICaptioner",
    "caption_image",
    "caption_video",
    "captioner_from_env",
]
