"""A4's trainable agent: Stable Video Diffusion's UNet, trained with the EDM-style objective of the community SVD
fine-tuning scripts (pixeli99/SVD_Xtend ``train_svd.py`` and its descendants)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mora_tools.adapters.modulation import MOD_TOKEN
from mora_tools.training.base import ImageToVideoBatch, TrainableAgent

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from mora_tools.loading.profiles import ImageToVideoSettings

P_MEAN, P_STD = 0.7, 1.6
"""Training noise levels: ``ln(sigma) ~ N(P_MEAN, P_STD^2)`` (the SVD fine-tuning scripts' values)."""
CLIP_SIZE = (224, 224)
"""The size SVD's pipeline resizes a frame to before its CLIP image encoder (hard-coded there too)."""
VAE_CHUNK = 8
"""Frames VAE-encoded at once: bounds the encoder's activations for long clips."""


def render_token(text: str, size: tuple[int, int]) -> Image.Image:
    """``text`` in black on white, centred, in PIL's default font, as an RGB image of ``size`` (width, height)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    # A fifth of the height: large enough for the encoder's patches to see the glyphs.
    font = ImageFont.load_default(size=max(8, size[1] // 5))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    position = ((size[0] - (right - left)) / 2 - left, (size[1] - (bottom - top)) / 2 - top)
    draw.text(position, text, fill="black", font=font)
    return image


class ImageToVideoTrainer(TrainableAgent):
    """Stable Video Diffusion agent (``StableVideoDiffusionPipeline``): its UNet trains, its CLIP image encoder and
    VAE stay frozen.

    SVD has no text encoder: its UNet's ``encoder_hidden_states`` is the first frame's CLIP image embedding,
    ``(B, 1, 1024)``. The modulation token therefore lives in that image-conditioning space, and ``z_0`` is
    ``[Mod]`` seen through the agent's own encoder: the CLIP image embedding of a picture of the text ``[Mod]``
    (:meth:`modulation_init`). Appended, the conditioning becomes ``(B, 2, 1024)``.

    Args:
        pipe (`StableVideoDiffusionPipeline`): the loaded pipeline.
        model (`str`): the profile's model reference.
        device (`str`): where the pipeline is.
        dtype (`torch.dtype`): its precision.
        settings (`ImageToVideoSettings`): the profile's A4 settings (``motion_bucket_id``, ``noise_aug_strength``).
    """

    role = "image_to_video"

    def __init__(self, pipe: Any, model: str, device: str, dtype: torch.dtype, settings: ImageToVideoSettings) -> None:
        import torch

        super().__init__(pipe, model, device, dtype)
        self.settings = settings
        # As the pipeline: an fp16 VAE that asks for it encodes in float32.
        if self.pipe.vae.dtype == torch.float16 and self.pipe.vae.config.force_upcast:
            self.pipe.vae.to(torch.float32)

    def modulation_init(self) -> torch.Tensor:
        """The CLIP image embedding of ``[Mod]`` rendered in black on white (PIL's default font) at the feature
        extractor's size, encoded exactly as the pipeline's ``_encode_image`` encodes a first frame.

        Returns:
            ``(1, D)`` float32 on the agent's device, ``D`` the UNet's ``cross_attention_dim``.
        """
        import torch

        crop = self.pipe.feature_extractor.crop_size
        height, width = (crop["height"], crop["width"]) if crop else CLIP_SIZE
        image = render_token(MOD_TOKEN, (width, height))
        with torch.no_grad():
            embedding = self.pipe._encode_image(image, self.device, 1, False)
        return embedding[:, 0].float()

    def loss(self, batch: ImageToVideoBatch, generator: torch.Generator, snr_gamma: float | None = 5.0) -> torch.Tensor:
        """EDM-style x0 loss of the target video given its own first frame, over the batch's ``F`` frames.

        ``sigma ~ lognormal(P_MEAN=0.7, P_STD=1.6)``; ``noisy = latents + sigma * noise``; the UNet sees
        ``[c_in * noisy, first-frame latents]`` (channels) with ``c_in = 1 / sqrt(sigma^2 + 1)`` and
        ``c_noise = ln(sigma) / 4``; ``denoised = c_out * prediction + c_skip * noisy`` with
        ``c_out = -sigma / sqrt(sigma^2 + 1)``, ``c_skip = 1 / (sigma^2 + 1)`` (the v-prediction parametrisation
        SVD's Euler sampler inverts); ``loss = mean(w * (denoised - latents)^2)``.

        Weights: without ``snr_gamma``, EDM's ``w = (sigma^2 + 1) / sigma^2`` (the SVD scripts' choice). With it,
        Min-SNR-gamma on the x0 loss (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting
        Strategy", eq. for x0 prediction): ``snr = 1 / sigma^2`` (signal variance 1), ``w = min(snr, gamma)``. This is
        the weighting diffusers' scripts apply to v-prediction, ``min(snr, gamma) / (snr + 1)`` on the v loss,
        rewritten for the x0 loss, which is the v loss divided by ``snr + 1``.

        Conditioning, as the pipeline: the first frame's CLIP embedding; its VAE latents (``latent_dist.mode()``,
        unscaled) after adding ``noise_aug_strength`` noise, repeated over the ``F`` frames; added time ids
        ``(fps - 1, motion_bucket_id, noise_aug_strength)`` with the profile's values. Target latents are VAE samples
        of every frame times ``scaling_factor``.

        Args:
            batch (`ImageToVideoBatch`): first frames ``(B, 3, H, W)`` and videos ``(B, F, 3, H, W)`` in ``[-1, 1]``.
            generator (`torch.Generator`): the CPU generator every random draw comes from.
            snr_gamma (`float`, *optional*, defaults to 5.0): Min-SNR gamma; ``None``: EDM's weighting.
        """
        import torch
        from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import (
            _resize_with_antialiasing,
        )

        pipe, s = self.pipe, self.settings
        videos, first = batch.videos, batch.first_frames
        if videos.ndim != 5 or videos.shape[2] != 3:
            raise ValueError(f"`videos` must have shape (B, F, 3, H, W), got {tuple(videos.shape)}")
        if first.shape != (videos.shape[0], *videos.shape[2:]):
            raise ValueError(
                f"`first_frames` must have shape {(videos.shape[0], *videos.shape[2:])}, got {tuple(first.shape)}"
            )
        batch_size, frames = videos.shape[:2]
        vae = pipe.vae
        # 1. Frozen parts: target latents, the first frame's CLIP embedding and its (noise-augmented) latents.
        with torch.no_grad():
            pixels = videos.flatten(0, 1).to(self.device, vae.dtype)
            chunks = [vae.encode(chunk).latent_dist.sample(generator=generator) for chunk in pixels.split(VAE_CHUNK)]
            latents = torch.cat(chunks) * vae.config.scaling_factor
            latents = latents.unflatten(0, (batch_size, frames)).to(self.dtype)
            # The pipeline's _encode_image turns a PIL frame into [-1, 1], resizes it to 224 and back to [0, 1]:
            # the same steps on the tensor give the same embedding.
            clip_input = (_resize_with_antialiasing(first.to(self.device, torch.float32), CLIP_SIZE) + 1.0) / 2.0
            image_embeddings = pipe._encode_image(clip_input, self.device, 1, False).to(self.dtype)
            augment = torch.randn(first.shape, generator=generator, dtype=torch.float32).to(self.device)
            condition = first.to(self.device, torch.float32) + s.noise_aug_strength * augment
            condition = vae.encode(condition.to(vae.dtype)).latent_dist.mode().to(self.dtype)
            condition = condition.unsqueeze(1).repeat(1, frames, 1, 1, 1)
            added_time_ids = pipe._get_add_time_ids(
                batch.fps - 1, s.motion_bucket_id, s.noise_aug_strength, self.dtype, batch_size, 1, False
            ).to(self.device)
        # 2. Noise levels and noise, drawn on the CPU from the generator only.
        sigmas = (torch.randn(batch_size, generator=generator) * P_STD + P_MEAN).exp()
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32)
        sigmas = sigmas.to(self.device)
        sigma = sigmas.view(-1, 1, 1, 1, 1)
        noisy = latents.float() + noise.to(self.device) * sigma
        c_in = 1 / (sigma**2 + 1) ** 0.5
        c_skip = 1 / (sigma**2 + 1)
        c_out = -sigma / (sigma**2 + 1) ** 0.5
        c_noise = sigmas.log() / 4
        # 3. Predict; encoder_hidden_states positionally, as the training scripts pass it.
        model_input = torch.cat([(c_in * noisy).to(self.dtype), condition], dim=2)
        prediction = self.denoiser(
            model_input, c_noise.to(self.dtype), image_embeddings, added_time_ids=added_time_ids, return_dict=False
        )[0]
        denoised = c_out * prediction.float() + c_skip * noisy
        # 4. Weighting.
        if snr_gamma is None:
            weights = (sigma**2 + 1) / sigma**2
        else:
            weights = torch.clamp(1 / sigma**2, max=snr_gamma)
        return torch.mean(weights * (denoised - latents.float()) ** 2)

    def _inject_lora(self, config: Any) -> None:
        # UNetSpatioTemporalConditionModel has no diffusers adapter API: peft injects directly.
        from mora_tools.adapters.lora import inject_peft_lora

        inject_peft_lora(self.unet, config)

    def _save_lora(self, directory: Path) -> None:
        from mora_tools.adapters.lora import save_peft_lora

        save_peft_lora(self.unet, directory)
