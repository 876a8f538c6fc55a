"""Training batches from a DATA folder: a deterministic sample order and the tensors each trained agent needs.

Teacher forcing: A2 (text_to_image) learns to draw the selected sample's first frame from its enhanced prompt; A4
(image_to_video) learns to animate that same first frame into the selected video's first segment. Each agent gets the
target's own intermediate as its input, so no diffusion sampling sits inside the training graph.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from mora_agents.errors import MoraError
from mora_agents.learning.dataset import data_file
from mora_agents.media import iter_frames, load_image


def sample_order(count: int, step: int, batch_size: int, seed: int) -> list[int]:
    """The sample indices of ``step`` (1-based): epochs of seeded permutations, read ``batch_size`` at a time.

    The order depends only on (count, step, batch_size, seed), so a resumed run reads exactly the batches an
    uninterrupted one would have.
    """
    start = (step - 1) * batch_size
    indices: list[int] = []
    while len(indices) < batch_size:
        position = start + len(indices)
        epoch, offset = divmod(position, count)
        permutation = list(range(count))
        random.Random(seed * 1_000_003 + epoch).shuffle(permutation)
        indices.append(permutation[offset])
    return indices


def image_tensor(path: Path) -> torch.Tensor:
    """An RGB image file as a (3, H, W) float tensor in [-1, 1]."""
    array = np.asarray(load_image(path).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(array).permute(2, 0, 1) / 127.5 - 1.0


def video_tensor(path: Path, frames: int) -> torch.Tensor:
    """The first ``frames`` frames of a video as a (F, 3, H, W) float tensor in [-1, 1] (streamed: no more is read)."""
    chunks = []
    for _, frame in iter_frames(path):
        if len(chunks) == frames:
            break
        chunks.append(torch.from_numpy(np.asarray(frame, dtype=np.float32)).permute(2, 0, 1) / 127.5 - 1.0)
    if not chunks:
        raise MoraError(f"{path} has no frames to train on")
    return torch.stack(chunks)


def text_to_image_batch(root: Path, samples: Sequence):
    """A2's batch: the enhanced prompts and the selected first frames."""
    from mora_tools.training.base import TextToImageBatch

    images = torch.stack([image_tensor(_file(root, sample, "first_frame")) for sample in samples])
    return TextToImageBatch(prompts=[sample.prompt for sample in samples], images=images)


def image_to_video_batch(root: Path, samples: Sequence, frames: int, fps: int):
    """A4's batch: the first frames as its input, the videos' first ``frames`` frames as its target.

    Videos shorter than ``frames`` shorten the whole batch to the shortest (a batch needs one frame count).
    """
    from mora_tools.training.base import ImageToVideoBatch

    length = min([frames, *(sample.num_frames for sample in samples)])
    videos = torch.stack([video_tensor(_file(root, sample, "file_name"), length) for sample in samples])
    first_frames = torch.stack([image_tensor(_file(root, sample, "first_frame")) for sample in samples])
    return ImageToVideoBatch(
        first_frames=first_frames, videos=videos, fps=fps, prompts=[sample.prompt for sample in samples]
    )


def _file(root: Path, sample, column: str) -> Path:
    # Checked again at read time: DATA may have changed since load_training_data validated it.
    return data_file(root, getattr(sample, column), where=f"{root / 'metadata.jsonl'} (set {sample.set_id})")


__all__ = ["image_tensor", "image_to_video_batch", "sample_order", "text_to_image_batch", "video_tensor"]
