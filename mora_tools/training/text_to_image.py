"""A2's trainable agent: the SDXL base UNet, trained with the denoising objective of diffusers'
``examples/text_to_image/train_text_to_image_sdxl.py`` (the refiner is not trained)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mora_tools.adapters.modulation import MOD_TOKEN
from mora_tools.training.base import TextToImageBatch, TrainableAgent

if TYPE_CHECKING:
    import torch

    from mora_tools.loading.profiles import TextToImageSettings


class TextToImageTrainer(TrainableAgent):
    """SDXL-family text-to-image agent (``StableDiffusionXLPipeline``): its base UNet trains, its two text encoders
    and its VAE stay frozen. The refiner, when the profile has one, is not trained: it only finishes the last
    denoising steps at generation.

    Args:
        pipe (`StableDiffusionXLPipeline`): the loaded base pipeline.
        model (`str`): the profile's model reference.
        device (`str`): where the pipeline is.
        dtype (`torch.dtype`): its precision.
        settings (`TextToImageSettings`): the profile's A2 settings.
    """

    role = "text_to_image"

    def __init__(self, pipe: Any, model: str, device: str, dtype: torch.dtype, settings: TextToImageSettings) -> None:
        import torch
        from diffusers import DDPMScheduler

        super().__init__(pipe, model, device, dtype)
        self.settings = settings
        # Training noises with DDPM on the schedule the model was trained with (betas, prediction type), whatever
        # sampler the pipeline generates with.
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        # fp16 overflows in SDXL's VAE (force_upcast): encode in float32, as the pipeline decodes.
        if self.pipe.vae.dtype == torch.float16 and self.pipe.vae.config.force_upcast:
            self.pipe.vae.to(torch.float32)

    def modulation_init(self) -> torch.Tensor:
        """The mean of the ``[Mod]`` tokens' embeddings, built as ``encode_prompt`` builds ``e_i``.

        SDXL conditions on the penultimate hidden states of both text encoders, concatenated (``(1, 77, 2048)`` for
        SDXL 1.0); ``z_0`` is the mean over the positions of ``[Mod]``'s own tokens (not BOS, EOS or padding),
        taken per encoder on that encoder's token positions -> ``(1, 2048)``.

        Returns:
            ``(1, D)`` float32 on the agent's device, ``D`` the UNet's ``cross_attention_dim``.
        """
        import torch

        pipe = self.pipe
        with torch.no_grad():
            embeds, _, _, _ = pipe.encode_prompt(MOD_TOKEN, device=self.device, do_classifier_free_guidance=False)
        pairs = [(pipe.tokenizer, pipe.text_encoder), (pipe.tokenizer_2, pipe.text_encoder_2)]
        # encode_prompt concatenates the encoders that are present, in this order.
        pairs = [(tokenizer, encoder) for tokenizer, encoder in pairs if encoder is not None]
        parts, start = [], 0
        for tokenizer, encoder in pairs:
            width = encoder.config.hidden_size
            ids = tokenizer(MOD_TOKEN, truncation=True, max_length=tokenizer.model_max_length).input_ids
            positions = [i for i, token in enumerate(ids) if token not in tokenizer.all_special_ids]
            parts.append(embeds[0, positions, start : start + width].float().mean(dim=0))
            start += width
        if start != embeds.shape[-1]:
            raise RuntimeError(f"text encoder widths add up to {start}, but encode_prompt gave {embeds.shape[-1]}")
        return torch.cat(parts).reshape(1, -1)

    def loss(self, batch: TextToImageBatch, generator: torch.Generator, snr_gamma: float | None = 5.0) -> torch.Tensor:
        """Denoising loss of the target images given their prompts (no classifier-free guidance dropout).

        Latents are the VAE's (sampled, times ``scaling_factor``); DDPM noise at a uniform timestep; target
        ``noise`` (epsilon prediction) or the velocity (v-prediction); with ``snr_gamma`` each sample's MSE is
        weighted by ``min(snr, gamma) / snr`` (epsilon) or ``min(snr, gamma) / (snr + 1)`` (v), exactly as
        diffusers' ``train_text_to_image_sdxl.py`` (Min-SNR, Hang et al. 2023). Time ids: original size = target
        size = the images' ``(H, W)``, crop ``(0, 0)``.

        Args:
            batch (`TextToImageBatch`): prompts and ``(B, 3, H, W)`` images in ``[-1, 1]``.
            generator (`torch.Generator`): the CPU generator every random draw comes from.
            snr_gamma (`float`, *optional*, defaults to 5.0): Min-SNR gamma; ``None``: plain MSE.
        """
        import torch
        import torch.nn.functional as F
        from diffusers.training_utils import compute_snr

        pipe, scheduler = self.pipe, self.noise_scheduler
        images = batch.images
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"`images` must have shape (B, 3, H, W), got {tuple(images.shape)}")
        if len(batch.prompts) != images.shape[0]:
            raise ValueError(f"{len(batch.prompts)} prompts for {images.shape[0]} images")
        size = (images.shape[-2], images.shape[-1])
        # 1. Frozen parts: latents and prompt embeddings.
        with torch.no_grad():
            vae = pipe.vae
            posterior = vae.encode(images.to(self.device, vae.dtype)).latent_dist
            latents = posterior.sample(generator=generator)
            mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
            if mean is not None and std is not None:
                mean = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
                std = torch.tensor(std).view(1, -1, 1, 1).to(latents)
                latents = (latents - mean) * vae.config.scaling_factor / std
            else:
                latents = latents * vae.config.scaling_factor
            latents = latents.to(self.dtype)
            prompt_embeds, _, pooled, _ = pipe.encode_prompt(
                batch.prompts, device=self.device, do_classifier_free_guidance=False
            )
            projection_dim = pipe.text_encoder_2.config.projection_dim if pipe.text_encoder_2 is not None else None
            time_ids = pipe._get_add_time_ids(
                size, (0, 0), size, dtype=prompt_embeds.dtype, text_encoder_projection_dim=projection_dim
            )
        batch_size = latents.shape[0]
        # 2. Noise and timesteps, drawn on the CPU from the generator only (resume reproduces them).
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(self.device, latents.dtype)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (batch_size,), generator=generator)
        timesteps = timesteps.to(self.device)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        # 3. Predict. encoder_hidden_states goes positionally, as the diffusers training scripts pass it.
        added = {"text_embeds": pooled, "time_ids": time_ids.to(self.device).repeat(batch_size, 1)}
        prediction = self.denoiser(noisy, timesteps, prompt_embeds, added_cond_kwargs=added, return_dict=False)[0]
        # 4. Target and weighting.
        prediction_type = scheduler.config.prediction_type
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = latents  # "sample"
        if snr_gamma is None:
            return F.mse_loss(prediction.float(), target.float(), reduction="mean")
        snr = compute_snr(scheduler, timesteps)
        weights = torch.stack([snr, snr_gamma * torch.ones_like(timesteps)], dim=1).min(dim=1)[0]
        if prediction_type == "epsilon":
            weights = weights / snr
        elif prediction_type == "v_prediction":
            weights = weights / (snr + 1)
        loss = F.mse_loss(prediction.float(), target.float(), reduction="none")
        loss = loss.mean(dim=list(range(1, loss.ndim))) * weights
        return loss.mean()

    def _inject_lora(self, config: Any) -> None:
        # diffusers' own adapter API (what its LoRA training scripts use), so save_lora_weights and
        # load_lora_weights see a regular diffusers LoRA.
        self.unet.add_adapter(config)

    def _save_lora(self, directory: Path) -> None:
        from diffusers import StableDiffusionXLPipeline
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft import get_peft_model_state_dict

        config = self.unet.peft_config["default"]
        state = convert_state_dict_to_diffusers(get_peft_model_state_dict(self.unet))
        # The adapter's config travels as metadata, so loading gets lora_alpha right (not only the rank).
        StableDiffusionXLPipeline.save_lora_weights(
            str(directory), unet_lora_layers=state, unet_lora_adapter_metadata=config.to_dict()
        )
