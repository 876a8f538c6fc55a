"""Loading the models a metrics profile names, and the random-weight miniatures of the ``tiny`` metrics profile.

Real models load by Hugging Face id or local folder with ``from_pretrained``; a missing one becomes one
:class:`~mora_agents.errors.ModelUnavailableError` sentence naming the model and ``hf download <id>`` (exit code 2),
before any scoring starts (:func:`check_metrics_profile`). Tiny models (``tiny/...``) are built from small configs,
saved once with ``save_pretrained`` under ``<mora cache>/metrics-tiny/<version>/`` and from then on loaded with
``from_pretrained`` like any real model, so the real loading and scoring code runs in seconds on a CPU.

Image preprocessing uses transformers' PIL/numpy image processors (``CLIPImageProcessorPil``, ...): torchvision is
not a dependency. Everything runs in float32 in ``Module.eval()`` mode, so a score is the same on every call.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mora_agents.errors import ModelUnavailableError
from mora_tools.loading import TINY_PREFIX, hub_reachable, is_local_reference, quiet_libraries
from mora_tools.metrics.profiles import MetricsProfile, load_metrics_profile

# Bump when a config below changes, so stale caches are rebuilt rather than reused.
METRICS_TINY_VERSION = "v1"
TINY_METRIC_MODELS = ("dino", "clip", "clip-large", "xclip", "aesthetic-head")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

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


# --- tiny models ------------------------------------------------------------------------------------------------


def tiny_metrics_root() -> Path:
    """Folder of the tiny metric models: ``<mora cache>/metrics-tiny/<version>``."""
    from mora_tools.tiny import cache_root

    return cache_root() / "metrics-tiny" / METRICS_TINY_VERSION


def tiny_metric_model_path(name: str) -> Path:
    """Folder of one tiny metric model, all of them built on first use."""
    if name not in TINY_METRIC_MODELS:
        raise ValueError(f"unknown tiny metric model '{name}', expected one of {', '.join(TINY_METRIC_MODELS)}")
    root = tiny_metrics_root()
    if not all((root / model / "built").is_file() for model in TINY_METRIC_MODELS):
        with _build_lock:
            if not all((root / model / "built").is_file() for model in TINY_METRIC_MODELS):
                _build_all(root)
    return root / name


_build_lock = threading.Lock()


def _build_all(root: Path) -> None:
    # Build into a temporary sibling and rename, so a killed build never leaves a half-saved model.
    import torch

    quiet_libraries()
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        for name, parts in (
            ("dino", build_tiny_dino()),
            ("clip", build_tiny_clip(seed=0)),
            ("clip-large", build_tiny_clip(seed=1)),
            ("xclip", build_tiny_xclip()),
        ):
            for part in parts:
                part.save_pretrained(staging / name)
        head = staging / "aesthetic-head"
        head.mkdir()
        # torch.save, as LAION ships its head: the tiny head goes through the very loader the real one does.
        torch.save(build_tiny_aesthetic_head(), head / "sa_0_4_vit_l_14_linear.pth")
        for name in TINY_METRIC_MODELS:
            (staging / name / "built").touch()
        if root.exists():
            shutil.rmtree(root)
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _tiny_vision_sizes() -> dict[str, int]:
    # image_size stays 224 because the processors resize every frame to 224; a 32-pixel patch keeps that to
    # 49 tokens, so a frame costs next to nothing on a CPU.
    return {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 224,
        "patch_size": 32,
    }


def build_tiny_dino():
    """Tiny DINO: a 2-layer ``ViTModel`` (no pooler: DINO's feature is the final class token) and the ImageNet
    normalisation facebook/dino-vitb16 ships with."""
    import torch
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    torch.manual_seed(0)
    model = ViTModel(ViTConfig(**_tiny_vision_sizes()), add_pooling_layer=False).eval()
    processor = ViTImageProcessorPil(
        size={"height": 224, "width": 224}, image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD
    )
    return model, processor


def build_tiny_clip(seed: int = 0):
    """Tiny ``CLIPModel`` (2-layer vision and text towers, 32 projected features), CLIP's image processor and
    :func:`mora_tools.tiny.build_tiny_clip_tokenizer`. ``seed`` makes different networks for different roles."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from mora_tools.tiny import _tiny_clip_text_config, build_tiny_clip_tokenizer

    tokenizer = build_tiny_clip_tokenizer()
    text_config = _tiny_clip_text_config(tokenizer).to_dict()
    config = CLIPConfig(text_config=text_config, vision_config=_tiny_vision_sizes(), projection_dim=32)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    processor = CLIPImageProcessorPil(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    return model, processor, tokenizer


def build_tiny_xclip():
    """Tiny ``XCLIPModel`` over 8 frames (as microsoft/xclip-base-patch32), its VideoMAE-style processor (shortest
    edge 224, centre crop 224, ImageNet normalisation) and the tiny CLIP tokenizer.

    X-CLIP's multi-frame integration transformer works on the projected frame features, so ``mit_hidden_size``
    equals ``projection_dim``.
    """
    import torch
    from transformers import VideoMAEImageProcessorPil, XCLIPConfig, XCLIPModel

    from mora_tools.tiny import _tiny_clip_text_config, build_tiny_clip_tokenizer

    tokenizer = build_tiny_clip_tokenizer()
    vision = {
        **_tiny_vision_sizes(),
        "num_frames": 8,
        "mit_hidden_size": 32,
        "mit_intermediate_size": 37,
        "mit_num_hidden_layers": 1,
        "mit_num_attention_heads": 4,
    }
    config = XCLIPConfig(
        text_config=_tiny_clip_text_config(tokenizer).to_dict(),
        vision_config=vision,
        projection_dim=32,
        prompt_layers=1,
        prompt_num_attention_heads=4,
    )
    torch.manual_seed(0)
    model = XCLIPModel(config).eval()
    processor = VideoMAEImageProcessorPil(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        image_mean=IMAGENET_MEAN,
        image_std=IMAGENET_STD,
    )
    return model, processor, tokenizer


def build_tiny_aesthetic_head(features: int = 32) -> dict[str, Any]:
    """The state dict of a random ``nn.Linear(features, 1)``, LAION's head shape for the tiny CLIP's 32 features.

    The bias is 5: LAION's scores sit around 5 on their 1-10 scale, and a random head centred there keeps the tiny
    ``aesthetic_quality`` mid-range instead of pinned at its lower bound.
    """
    import torch

    torch.manual_seed(0)
    head = torch.nn.Linear(features, 1)
    with torch.no_grad():
        head.bias.fill_(5.0)
    return head.state_dict()


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
    if _hub_file_available(reference, "config.json"):
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
    if _hub_file_available(reference, file_name):
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(reference, file_name))
    raise ModelUnavailableError(
        f"aesthetic head '{file_name}' of '{reference}' ({where}) is not on this machine and cannot be downloaded: "
        f"run `hf download {reference} {file_name}` where there is network access and copy the Hugging Face cache "
        "here (or set HF_HOME to it), or name a local file in a metrics profile file"
    )


def _hub_file_available(repo: str, file_name: str) -> bool:
    """Whether ``file_name`` of Hub repo ``repo`` is in the local cache, or downloads now."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        if isinstance(try_to_load_from_cache(repo, file_name), str):
            return True
    except ValueError:  # not a valid repo id: it cannot be on the Hub either
        return False
    if not hub_reachable():
        return False
    try:
        hf_hub_download(repo, file_name)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return False
    return True


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
