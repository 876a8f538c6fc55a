"""Loading the models a metrics profile names (the ``tiny`` profile's miniatures are built by
:mod:`~mora_agents.evaluation.metrics.tiny_models`).

Real models load by Hugging Face id or local folder with ``from_pretrained``; a missing one becomes one
:class:`~mora_agents.errors.ModelUnavailableError` sentence naming the model and ``hf download <id>`` (exit code 2),
before any scoring starts (:func:`check_metrics_profile`). Tiny models (``tiny/...``) are built from small configs,
saved once with ``save_pretrained`` under ``<mora cache>/metrics-tiny/<version>/`` and from then on loaded with
``from_pretrained`` like any real model, so the real loading and scoring code runs in seconds on a CPU.

Image preprocessing uses transformers' PIL/numpy image processors (``CLIPImageProcessorPil``, ...): torchvision is
not a dependency. Everything runs in float32 in ``Module.eval()`` mode, so a score is the same on every call.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mora_agents.errors import ModelUnavailableError
from mora_agents.evaluation.metrics.profiles import MetricsProfile, load_metrics_profile
from mora_agents.evaluation.metrics.tiny_models import tiny_metric_model_path
from mora_tools.builders.registry import TINY_PREFIX
from mora_tools.cache import quiet_libraries
from mora_tools.loading.models import hub_file_available, is_hub_repo_id, is_local_reference

LAION_HEAD_URL = "https://github.com/LAION-AI/aesthetic-predictor/raw/main/sa_0_4_vit_l_14_linear.pth"
"""Where LAION publishes the ViT-L/14 linear aesthetic head (VBench downloads it from there)."""

MODEL_METRICS = {
    "subject_consistency": ("consistency", "subject_model"),
    "background_consistency": ("consistency", "background_model"),
    "aesthetic_quality": ("aesthetic", "clip_model"),
    "appearance_style": ("text_alignment", "image_model"),
    "temporal_style": ("text_alignment", "video_model"),
    "tcon": ("text_alignment", "video_model"),
    "tmean": ("text_alignment", "video_model"),
}
"""Each model-based metric and the profile field (section, field) naming its model."""


# --- resolving and checking references --------------------------------------------------------------------------


def resolve_metric_model(reference: str) -> str:
    """What ``from_pretrained`` takes for a profile's reference (tiny ones are built on demand)."""
    if reference.startswith(TINY_PREFIX):
        return str(tiny_metric_model_path(reference.removeprefix(TINY_PREFIX)))
    if is_local_reference(reference):
        return str(Path(reference).expanduser())
    return reference


def check_metric_model(reference: str, metric: str, profile: str) -> None:
    """Make sure the transformers model ``reference`` can be loaded: a tiny model (built here), a local folder with
    ``config.json``, or a Hugging Face repo that is cached or downloadable now.

    Raises:
        ModelUnavailableError: one sentence naming the model, the metric and how to provide it.
    """
    if reference.startswith(TINY_PREFIX):
        try:
            resolve_metric_model(reference)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(
                f"cannot build metric model '{reference}' ({metric}, metrics profile '{profile}'): "
                f"{str(error).splitlines()[0]}"
            ) from None
        return
    if is_local_reference(reference):
        if not (Path(reference).expanduser() / "config.json").is_file():
            raise ModelUnavailableError(
                f"metric model folder '{reference}' ({metric}, metrics profile '{profile}') has no config.json: "
                "point the metrics profile at a folder saved with save_pretrained or downloaded from the Hub"
            )
        return
    if not is_hub_repo_id(reference):
        raise ModelUnavailableError(
            f"metric model '{reference}' ({metric}, metrics profile '{profile}') is neither a folder on this machine "
            "nor a Hugging Face repo id (name or namespace/name): fix the reference in the metrics profile"
        )
    if hub_file_available(reference, "config.json"):
        return
    raise ModelUnavailableError(
        f"metric model '{reference}' ({metric}, metrics profile '{profile}') is not on this machine and cannot be "
        f"downloaded: run `hf download {reference}` where there is network access and copy the Hugging Face cache "
        "here (or set HF_HOME to it), or name a local folder in a metrics profile file"
    )


def resolve_aesthetic_head(profile: MetricsProfile) -> Path:
    """The file of the profile's aesthetic head (a tiny one is built on demand).

    Raises:
        ModelUnavailableError: one sentence naming the missing file and where to get it.
    """
    reference, file_name = profile.aesthetic.head, profile.aesthetic.head_file
    where = f"aesthetic_quality, metrics profile '{profile.name}'"
    if reference.startswith(TINY_PREFIX):
        check_metric_model(reference, "aesthetic_quality", profile.name)
        return Path(resolve_metric_model(reference)) / file_name
    if is_local_reference(reference):
        path = Path(reference).expanduser()
        path = path / file_name if path.is_dir() or not path.suffix else path
        if not path.is_file():
            raise ModelUnavailableError(
                f"aesthetic head '{path}' ({where}) is not on this machine: download {LAION_HEAD_URL} there "
                "where there is network access, or name another file in a metrics profile file"
            )
        return path
    if hub_file_available(reference, file_name):
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(reference, file_name))
    raise ModelUnavailableError(
        f"aesthetic head '{file_name}' of '{reference}' ({where}) is not on this machine and cannot be downloaded: "
        f"run `hf download {reference} {file_name}` where there is network access and copy the Hugging Face cache "
        "here (or set HF_HOME to it), or name a local file in a metrics profile file"
    )


def metric_models(profile: MetricsProfile, metrics: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """``(metric, model reference)`` for the models ``metrics`` need (all model-based metrics when ``None``)."""
    wanted = MODEL_METRICS if metrics is None else [m for m in metrics if m in MODEL_METRICS]
    found: list[tuple[str, str]] = []
    for metric in wanted:
        section, field = MODEL_METRICS[metric]
        found.append((metric, getattr(getattr(profile, section), field)))
    return found


def check_metrics_profile(profile: MetricsProfile, metrics: Iterable[str] | None = None) -> None:
    """Check, before any scoring, that every model ``metrics`` need is loadable (all when ``None``).

    Raises:
        ModelUnavailableError: for the first missing model, one sentence naming it and how to get it.
    """
    metrics = None if metrics is None else list(metrics)
    for metric, reference in metric_models(profile, metrics):
        check_metric_model(reference, metric, profile.name)
    if metrics is None or "aesthetic_quality" in metrics:
        resolve_aesthetic_head(profile)


# --- loaded models ----------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A transformers model with what prepares its inputs."""

    model: Any
    """In ``Module.eval()`` mode, float32, on the :class:`MetricModels` device."""
    processor: Any
    """A PIL/numpy image processor (``CLIPImageProcessorPil``, ``ViTImageProcessorPil``, ...)."""
    tokenizer: Any = None
    """For text-conditioned models (CLIP, X-CLIP)."""
    reference: str = ""
    """The profile's reference, for method strings."""


class MetricModels:
    """The models of one metrics profile, each loaded on first use and kept until :meth:`release`.

    Args:
        profile: a :class:`MetricsProfile`, or the name / YAML path of one.
        device: ``"cpu"``, ``"cuda"``, ...; ``None`` picks CUDA when present, else the CPU.

    Example:
        >>> models = MetricModels("tiny", device="cpu")
        >>> subject_consistency("clip.mp4", models).value
    """

    def __init__(self, profile: MetricsProfile | str, device: str | None = None) -> None:
        self.profile = load_metrics_profile(profile) if isinstance(profile, str) else profile
        self._device = device
        self._loaded: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()

    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def check(self, metrics: Iterable[str] | None = None) -> None:
        """:func:`check_metrics_profile` for this profile."""
        check_metrics_profile(self.profile, metrics)

    def release(self) -> None:
        """Drop every loaded model (the next use loads it again)."""
        with self._lock:
            self._loaded.clear()

    def dino(self) -> LoadedModel:
        """The ``subject_consistency`` DINO ViT."""
        return self._get("vit", self.profile.consistency.subject_model, "subject_consistency")

    def clip(self, metric: str) -> LoadedModel:
        """The CLIP model ``metric`` uses: ``background_consistency``, ``appearance_style`` or ``aesthetic_quality``."""
        section, field = MODEL_METRICS[metric]
        return self._get("clip", getattr(getattr(self.profile, section), field), metric)

    def xclip(self, metric: str = "temporal_style") -> LoadedModel:
        """The X-CLIP video-text model (``temporal_style``, ``tcon``, ``tmean``)."""
        return self._get("xclip", self.profile.text_alignment.video_model, metric)

    def aesthetic_head(self) -> Any:
        """LAION's linear aesthetic head (``torch.nn.Linear(features, 1)``), checked against the CLIP it scores."""
        with self._lock:
            key = ("head", self.profile.aesthetic.head)
            if key not in self._loaded:
                self._loaded[key] = self._load_head()
            return self._loaded[key]

    def _get(self, kind: str, reference: str, metric: str) -> LoadedModel:
        with self._lock:
            key = (kind, reference)
            if key not in self._loaded:
                self._loaded[key] = self._load(kind, reference, metric)
            return self._loaded[key]

    def _load(self, kind: str, reference: str, metric: str) -> LoadedModel:
        check_metric_model(reference, metric, self.profile.name)
        quiet_libraries()
        import torch
        from transformers import (
            AutoTokenizer,
            CLIPImageProcessorPil,
            CLIPModel,
            VideoMAEImageProcessorPil,
            ViTImageProcessorPil,
            ViTModel,
            XCLIPModel,
        )

        path = resolve_metric_model(reference)
        try:
            if kind == "vit":
                # DINO's feature is the final class token: the pooler (absent from DINO checkpoints) is not built.
                model = ViTModel.from_pretrained(path, dtype=torch.float32, add_pooling_layer=False)
                processor, tokenizer = ViTImageProcessorPil.from_pretrained(path), None
            elif kind == "clip":
                model = CLIPModel.from_pretrained(path, dtype=torch.float32)
                processor, tokenizer = CLIPImageProcessorPil.from_pretrained(path), AutoTokenizer.from_pretrained(path)
            else:
                model = XCLIPModel.from_pretrained(path, dtype=torch.float32)
                processor = VideoMAEImageProcessorPil.from_pretrained(path)
                tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(
                f"cannot load metric model '{reference}' ({metric}, metrics profile '{self.profile.name}'): "
                f"{str(error).splitlines()[0]}"
            ) from None
        # Module.eval(): no dropout, so the same frames always give the same features.
        return LoadedModel(model.to(self.device).eval(), processor, tokenizer, reference)

    def _load_head(self) -> Any:
        import torch

        path = resolve_aesthetic_head(self.profile)
        where = f"aesthetic_quality, metrics profile '{self.profile.name}'"
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                # weights_only: a .pth file is a pickle, and this one only ever holds two tensors.
                state = torch.load(path, map_location="cpu", weights_only=True)
            weight, bias = state["weight"], state["bias"]
        except (OSError, RuntimeError, KeyError, ValueError) as error:
            raise ModelUnavailableError(
                f"cannot load aesthetic head {path} ({where}): {str(error).splitlines()[0] or type(error).__name__}"
            ) from None
        features = self.clip("aesthetic_quality").model.config.projection_dim
        if tuple(weight.shape) != (1, features) or tuple(bias.shape) != (1,):
            raise ModelUnavailableError(
                f"aesthetic head {path} ({where}) maps {tuple(weight.shape)[-1]} features to a score, but "
                f"'{self.profile.aesthetic.clip_model}' gives {features}: pair the head with its CLIP model"
            )
        head = torch.nn.Linear(features, 1)
        head.load_state_dict({"weight": weight.float(), "bias": bias.float()})
        return head.to(self.device).eval()
