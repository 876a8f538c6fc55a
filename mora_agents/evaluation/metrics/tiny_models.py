"""The random-weight miniatures of the ``tiny`` metrics profile: DINO, two CLIPs, X-CLIP and LAION's aesthetic head,
built from small configs.

They are saved once with ``save_pretrained`` under ``<mora cache>/metrics-tiny/<version>/`` and from then on loaded
with ``from_pretrained`` like any real model (:mod:`~mora_agents.evaluation.metrics.models`), so the real loading and
scoring code runs in seconds on a CPU.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from mora_agents.atomic_files import write_atomically
from mora_tools.cache import cache_root, quiet_libraries

# Bump when a config below changes, so stale caches are rebuilt rather than reused.
METRICS_TINY_VERSION = "v1"
TINY_METRIC_MODELS = ("dino", "clip", "clip-large", "xclip", "aesthetic-head")

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def tiny_metrics_root() -> Path:
    """Folder of the tiny metric models: ``<mora cache>/metrics-tiny/<version>``."""
    return cache_root() / "metrics-tiny" / METRICS_TINY_VERSION


def tiny_metric_model_path(name: str) -> Path:
    """Folder of one tiny metric model, all of them built on first use."""
    if name not in TINY_METRIC_MODELS:
        raise ValueError(f"unknown tiny metric model '{name}', expected one of {', '.join(TINY_METRIC_MODELS)}")
    root = tiny_metrics_root()
    if not _all_built(root):
        with _build_lock:
            if not _all_built(root):
                # Built whole into a staging folder and renamed: a killed build never leaves a half-saved model.
                write_atomically(root, _build_all, done=_all_built)
    return root / name


_build_lock = threading.Lock()


def _all_built(root: Path) -> bool:
    return all((root / model / "built").is_file() for model in TINY_METRIC_MODELS)


def _build_all(staging: Path) -> None:
    import torch

    quiet_libraries()
    for name, parts in (
        ("dino", build_tiny_dino()),
        ("clip", build_tiny_clip(seed=0)),
        ("clip-large", build_tiny_clip(seed=1)),
        ("xclip", build_tiny_xclip()),
    ):
        for part in parts:
            part.save_pretrained(staging / name)
    head = staging / "aesthetic-head"
    head.mkdir(parents=True)
    # torch.save, as LAION ships its head: the tiny head goes through the very loader the real one does.
    torch.save(build_tiny_aesthetic_head(), head / "sa_0_4_vit_l_14_linear.pth")
    for name in TINY_METRIC_MODELS:
        (staging / name / "built").touch()


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
    :func:`mora_tools.builders.text_tokenizers.build_clip_tokenizer`. ``seed`` makes different networks for different
    roles."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel

    from mora_tools.builders.text_tokenizers import build_clip_tokenizer
    from mora_tools.builders.tiny_sizes import tiny_clip_text_config

    tokenizer = build_clip_tokenizer()
    text_config = tiny_clip_text_config().to_dict()
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

    from mora_tools.builders.text_tokenizers import build_clip_tokenizer
    from mora_tools.builders.tiny_sizes import tiny_clip_text_config

    tokenizer = build_clip_tokenizer()
    vision = {
        **_tiny_vision_sizes(),
        "num_frames": 8,
        "mit_hidden_size": 32,
        "mit_intermediate_size": 37,
        "mit_num_hidden_layers": 1,
        "mit_num_attention_heads": 4,
    }
    config = XCLIPConfig(
        text_config=tiny_clip_text_config().to_dict(),
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


__all__ = [
    "METRICS_TINY_VERSION",
    "TINY_METRIC_MODELS",
    "build_tiny_aesthetic_head",
    "build_tiny_clip",
    "build_tiny_dino",
    "build_tiny_xclip",
    "tiny_metric_model_path",
    "tiny_metrics_root",
]
