"""Loading pipelines named by a profile: tiny models from the local cache, real ones by id or path.

Missing weights become one :class:`~mora_agents.errors.ModelUnavailableError` sentence that names the
model and says how to provide it, before any run folder is created (:func:`check_profile`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mora_agents.errors import ModelUnavailableError
from mora_tools.builders.registry import built_model_path, is_built_reference
from mora_tools.cache import quiet_libraries
from mora_tools.loading.memory import LoadOptions, current_load_options
from mora_tools.loading.profiles import ModelProfile


@dataclass(frozen=True)
class DeviceChoice:
    """Where pipelines run and in which precision."""

    device: str
    dtype: Any  # torch.dtype; Any keeps torch out of import time


def choose_device(profile: ModelProfile, device: str | None = None, role: str | None = None) -> DeviceChoice:
    """CUDA in bf16/fp16 when present, else MPS in fp16, else CPU in fp32; ``device`` overrides, and the
    ``dtype`` of ``role``'s settings (e.g. ``image_to_video``) or else of the profile overrides the precision."""
    import torch

    if device is None:
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailableError(f"device '{device}' was asked for, but torch sees no CUDA GPU on this machine")
    settings = getattr(profile, role.split()[0], None) if role else None
    dtype = getattr(settings, "dtype", None) or profile.dtype
    if dtype != "auto":
        return DeviceChoice(device, getattr(torch, dtype))
    if device.startswith("cuda"):
        # bf16 where the card has it natively (Ampere and later): fp16's range makes SDXL's VAE overflow
        # (diffusers then upcasts it to fp32 for every decode), bf16's does not. Older cards get fp16.
        return DeviceChoice(device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)
    if device == "mps":
        return DeviceChoice(device, torch.float16)
    return DeviceChoice(device, torch.float32)


def use_torch_threads(threads: int | None) -> None:
    """Run torch's CPU kernels in the calling thread on ``threads`` threads (``None``: leave the count as it is).

    Under OpenMP the count is per OS thread: ``torch.set_num_threads`` in one thread does not reach a worker thread,
    which keeps the count it had when it first ran a kernel. Different counts give different float sums, so the same
    seed would make other bytes there than in a fresh process (measured: tiny SVD).
    """
    if threads:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def cpu_numerics() -> str:
    """Torch's CPU threads and vector kernels in this process, e.g. "2 threads, AVX2 kernels": a CPU result's bytes
    depend on both, so two processes make the same file only where this reads the same."""
    import torch

    return f"{torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()} kernels"


def profile_models(profile: ModelProfile) -> list[tuple[str, str]]:
    """``(role, model reference)`` for every model the profile needs."""
    return [
        (f"{role} {part}".strip(), reference)
        for role, settings in profile.roles().items()
        for part, reference in settings.models()
    ]


def resolve_model(reference: str) -> str:
    """Turn a profile's model reference into what ``from_pretrained`` takes (tiny ones are built on demand)."""
    if is_built_reference(reference):
        return str(built_model_path(reference))
    return reference


def check_model(reference: str, role: str, profile: str) -> None:
    """Make sure ``reference`` can be loaded: a local folder with ``model_index.json``, or a Hugging Face
    repo that is cached or downloadable now.

    Raises:
        ModelUnavailableError: with one sentence naming the model and how to provide it.
    """
    if is_built_reference(reference):
        try:
            resolve_model(reference)  # builds it on first use
        except (OSError, ValueError) as error:
            raise ModelUnavailableError(
                f"cannot build model '{reference}' ({role}, profile '{profile}'): {str(error).splitlines()[0]}"
            ) from None
        return
    path = Path(reference).expanduser()
    if is_local_reference(reference):
        if not (path / "model_index.json").is_file():
            raise ModelUnavailableError(
                f"model folder '{reference}' ({role}, profile '{profile}') has no model_index.json: "
                "point the profile at a folder saved with save_pretrained or downloaded from the Hub"
            )
        return
    if not is_hub_repo_id(reference):
        raise ModelUnavailableError(
            f"model '{reference}' ({role}, profile '{profile}') is neither a folder on this machine nor a Hugging "
            "Face repo id (name or namespace/name): fix the reference in the profile"
        )
    if hub_file_available(reference, "model_index.json"):
        return
    raise ModelUnavailableError(
        f"model '{reference}' ({role}, profile '{profile}') is not on this machine and cannot be downloaded: "
        f"run `hf download {reference}` where there is network access and copy the Hugging Face cache "
        "here (or set HF_HOME to it), or name a local folder in a profile file"
    )


def is_local_reference(reference: str) -> bool:
    """Whether a profile's model reference names a folder on disk rather than a Hugging Face repo id."""
    path = Path(reference).expanduser()
    return path.is_absolute() or reference.startswith((".", "~")) or path.exists()


def is_hub_repo_id(reference: str) -> bool:
    """Whether ``reference`` is a valid Hugging Face repo id (huggingface_hub's own rule, not ours)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(reference)
    except HFValidationError:
        return False
    return True


def hub_file_available(repo: str, file_name: str) -> bool:
    """Whether ``file_name`` of Hub repo ``repo`` is in the local cache, or downloads now (False for an invalid id).

    Model loading and the metric models both ask this, so "cached or downloadable" means one thing everywhere.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if not is_hub_repo_id(repo):
        return False
    if isinstance(try_to_load_from_cache(repo, file_name), str):
        return True
    if not hub_reachable():
        return False
    try:
        hf_hub_download(repo, file_name)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return False
    return True


def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connect to the Hub, instead of huggingface_hub's minute of retries when offline."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def check_profile(profile: ModelProfile, roles: set[str] | None = None) -> None:
    """Check the models of ``profile`` that ``roles`` need (all when ``None``; see :func:`check_model`).

    A role's :meth:`~mora_tools.loading.profiles.RoleSettings.also_needs` come along (A5's ``a4_blend`` needs A4's
    model).
    """
    sections = profile.roles()
    if roles is not None:
        roles = roles | {other for role in roles if role in sections for other in sections[role].also_needs()}
    for role, reference in profile_models(profile):
        if roles is None or role.split()[0] in roles:
            check_model(reference, role, profile.name)


def load_pipeline(
    pipeline_class: type,
    reference: str,
    *,
    role: str,
    profile: ModelProfile,
    device: str | None = None,
    **components: Any,
):
    """``pipeline_class.from_pretrained`` on the profile's device and dtype, its progress bar off (our sink
    reports the steps), with library errors turned into one sentence."""
    check_model(reference, role, profile.name)
    quiet_libraries()
    choice = choose_device(profile, device, role)
    try:
        pipe = pipeline_class.from_pretrained(resolve_model(reference), dtype=choice.dtype, **components)
    except (OSError, ValueError) as error:
        raise ModelUnavailableError(
            f"cannot load model '{reference}' ({role}, profile '{profile.name}'): {str(error).splitlines()[0]}"
        ) from None
    place_pipeline(pipe, choice.device, current_load_options())
    pipe.set_progress_bar_config(disable=True)
    return pipe


def place_pipeline(pipe: Any, device: str, options: LoadOptions) -> None:
    """Put ``pipe`` on ``device`` as ``options`` ask, recording in ``options.applied`` what was switched on.

    Model CPU offload needs an accelerator to offload *from*: on a CPU it is skipped (and not recorded).
    """
    if options.offload and device != "cpu":
        pipe.enable_model_cpu_offload(device=device)
        options.applied.append("model CPU offload")
    else:
        pipe.to(device)
    if options.compile:
        for name in ("unet", "transformer", "transformer_2"):
            denoiser = getattr(pipe, name, None)
            if denoiser is not None:
                # In place and lazy: the first denoising step compiles, the others reuse the graph.
                denoiser.compile()
                options.applied.append(f"torch.compile {name}")
    if options.low_memory:
        vae = getattr(pipe, "vae", None)
        # Slicing decodes one image (or frame chunk) at a time, tiling decodes overlapping tiles; not every
        # VAE has both (SVD's temporal decoder has neither: its decode_chunk_size plays that part).
        for lever in ("slicing", "tiling"):
            enable = getattr(vae, f"enable_{lever}", None)
            if enable is not None:
                enable()
                options.applied.append(f"VAE {lever}")
