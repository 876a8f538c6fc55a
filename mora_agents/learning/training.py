"""Self-modulated multi-agent fine-tuning (paper §3.2, Algorithm 1) on a DATA folder, through Hugging Face Accelerate.

Every step, for the trained agents i = 1..n (A2, A4):

1. each agent's conditioning gets its modulation embedding appended, [e_i; z_i] (a forward pre-hook on its denoiser,
   the same one generation uses: :func:`mora_tools.adapters.modulation.attach_modulation`);
2. teacher-forced chain: A2 denoises the selected first frame given the enhanced prompt, A4 denoises the selected video
   given that first frame; ``L_final`` is the sum of their denoising losses (back-propagating through full diffusion
   sampling of a chain is not feasible; README "Learning" explains this reading of the paper);
3. z_i <- z_i - eta_z dL/dz_i (AdamW without weight decay: a decay would shrink ||z_i|| and with it alpha_i);
4. alpha_i = ||z_i||_2 / n from the updated z_i, and agent i's parameter group gets learning rate alpha_i * eta,
   reset every step, before its parameters are updated.

``modulation="fixed"`` appends z_i without optimising it; ``"off"`` is plain end-to-end fine-tuning (alpha_i = 1, no
z anywhere in the run). Checkpoints are Accelerate states (trained weights only, optimisers, EMA, z, step); the data
order and every step's noise come from the seed and the step number, so a resumed run equals an uninterrupted one.

Multi-GPU: ``accelerate launch -m mora_agents.cli learn train DATA --out RUN`` (the denoisers are wrapped for
data-parallel training by ``accelerator.prepare``; z's gradients are averaged across processes by hand, since z is
not a parameter of a wrapped module).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import BaseModel, ValidationError

from mora_agents import __version__
from mora_agents.errors import MoraError
from mora_agents.learning.batches import image_to_video_batch, sample_order, text_to_image_batch
from mora_agents.learning.dataset import load_training_data
from mora_agents.learning.settings import TrainSettings
from mora_agents.workspace import now_iso, sha256_file, write_text_atomic

SETTINGS_FILE = "train.json"
LOG_FILE = "log.jsonl"
CHECKPOINTS = "checkpoints"
ADAPTERS = "adapters"
INITIAL_MODULATION = "modulation_init.safetensors"
PROBE_FILE = "probe_loss.json"
FINAL_STATE = "final"
"""``RUN/final/``: the final trained weights by parameter name (EMA'd) and z: where a next iteration starts."""
PROBE_SEED = 999_983
"""The probe loss (a fixed batch under fixed noise, before and after training) uses this seed offset."""


class TrainRecord(BaseModel):
    """``RUN/train.json``: what this run trains on and how."""

    settings: TrainSettings
    data: str
    data_fingerprint: str
    """sha256 of the DATA's ``metadata.jsonl``: a resume on changed data is refused."""
    samples: int
    start_from: str | None = None
    """The run whose final weights and z this one started from (``mora learn loop``'s previous iteration)."""
    mora_version: str
    created: str


@dataclass
class TrainResult:
    """What :func:`train` leaves behind."""

    run_dir: Path
    steps: int
    log: list[dict] = field(default_factory=list)
    probe_loss: tuple[float, float] | None = None
    """(before, after): the loss of a fixed batch under fixed noise."""
    resumed_from: int | None = None
    main_process: bool = True
    """False in the other processes of a multi-process run: they leave reporting to the main one."""

    @property
    def adapters(self) -> Path:
        return self.run_dir / ADAPTERS


class _TrainingProgress:
    """The step counter, checkpointed with Accelerate (``register_for_checkpointing`` wants a state_dict)."""

    def __init__(self) -> None:
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


class ModulationBank(torch.nn.Module):
    """The z_i of every trained agent, by role."""

    def __init__(self, embeddings: dict) -> None:
        super().__init__()
        self.by_role = torch.nn.ModuleDict(embeddings)

    def alphas(self, n: int) -> dict[str, float]:
        """alpha_i = ||z_i||_2 / n (Algorithm 1, lines 12-13)."""
        return {role: norm / n for role, norm in self.norms().items()}

    def norms(self) -> dict[str, float]:
        return {role: float(embedding.norm().detach()) for role, embedding in self.by_role.items()}

    def tensors(self) -> dict[str, torch.Tensor]:
        return {role: embedding.z.detach().cpu().contiguous() for role, embedding in self.by_role.items()}


def train(
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: TrainSettings | None = None,
    *,
    resume: bool | str | os.PathLike = False,
    start_from: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    on_step: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Fine-tune ``settings.agents`` on DATA into RUN (``out_dir``): adapters, modulation, log, checkpoints, report.

    Args:
        data_dir: a DATA folder made by ``mora learn synthesize``.
        out_dir: the run folder (created; with ``resume`` an existing run).
        settings: the training settings (default: the paper's).
        resume: ``True`` continues from the run's latest checkpoint; a path continues from that checkpoint.
        start_from: a finished run whose final weights and modulation embeddings this run starts from (Algorithm
            1's outer loop keeps training the same agents); ``None``: the profile's models and fresh z_i.
        log: where progress lines go.
        on_step: called with each step's log record (progress bars).

    Returns:
        `TrainResult`: the run folder, the steps done and the log.

    Raises:
        MoraError: bad DATA (naming the row), an agent the profile cannot train, or a resume that does not fit.
    """
    from mora_tools.loading.profiles import load_profile

    say = log or (lambda line: None)
    data = Path(data_dir)
    run = Path(out_dir)
    checkpoint = _checkpoint_to_resume(run, resume)
    # A resumed run keeps the settings it started with, whatever this call was given.
    settings = _resumed_record(run).settings if checkpoint is not None else (settings or TrainSettings())
    profile = load_profile(settings.profile)
    samples = load_training_data(data, size=(profile.text_to_image.width, profile.text_to_image.height))
    start = Path(start_from) if start_from is not None else None
    if start is not None and not (start / FINAL_STATE).is_dir():
        raise MoraError(f"{start} is not a finished training run (no {FINAL_STATE}/): nothing to start from")
    # Every process checks (nothing written yet, so all see the same); only the main process writes.
    record = _planned_record(run, data, settings, len(samples), resuming=checkpoint is not None, start_from=start)
    session = _TrainingSession(settings, profile, run, say)
    try:
        if checkpoint is None:
            if session.accelerator.is_main_process:
                _write_record(run, record)
            session.accelerator.wait_for_everyone()
        return session.run(data, samples, checkpoint, on_step, start)
    finally:
        session.close()


class _TrainingSession:
    """One process's share of a training run: the Accelerator, the agents, their optimisers and EMA."""

    def __init__(self, settings: TrainSettings, profile, run: Path, say: Callable[[str], None]) -> None:
        from accelerate import Accelerator

        self.settings = settings
        self.profile = profile
        self.run_dir = run
        self.accelerator = Accelerator(mixed_precision=_mixed_precision(settings.mixed_precision))
        # One voice: with several processes only the main one reports.
        self.say = say if self.accelerator.is_main_process else (lambda line: None)
        self.agents: dict = {}
        self.params: dict[str, list[torch.nn.Parameter]] = {}
        self.bank: ModulationBank | None = None
        self.handles: list = []
        self.progress = _TrainingProgress()

    # --- set-up ---------------------------------------------------------------------------------------------------

    def build(self) -> None:
        from mora_tools.adapters.modulation import ModulationEmbedding, attach_modulation
        from mora_tools.training.load import load_trainable_agent

        settings, accelerator = self.settings, self.accelerator
        weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
        device = str(accelerator.device)
        for role in settings.agents:
            self.say(f"loading {role} from profile {self.profile.name}")
            agent = load_trainable_agent(self.profile, role, device=device, dtype=weight_dtype)
            if settings.full_finetune:
                params = agent.full_parameters()
            else:
                # peft draws LoRA's A matrices from the global generator: seeded, so a run (and its resume in
                # another process) starts from the same adapters whatever ran before in this process.
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(settings.seed * 7_919 + len(self.agents))
                    params = agent.add_lora(rank=settings.lora_rank)
            # Trained weights stay in float32 under mixed precision (diffusers' cast_training_params).
            for param in params:
                param.data = param.data.float()
            if settings.gradient_checkpointing:
                agent.enable_gradient_checkpointing()
            self.agents[role], self.params[role] = agent, params
        if settings.modulation != "off":
            embeddings = {role: ModulationEmbedding(agent.modulation_init()) for role, agent in self.agents.items()}
            self.bank = ModulationBank(embeddings).to(accelerator.device)
            for role, agent in self.agents.items():
                self.handles.append(attach_modulation(agent.denoiser, self.bank.by_role[role]))
            if settings.modulation == "fixed":
                self.bank.requires_grad_(False)

        eta = settings.learning_rate
        groups = [{"params": params, "lr": eta, "role": role} for role, params in self.params.items()]
        self.theta_optimizer = torch.optim.AdamW(groups, lr=eta, weight_decay=1e-2)
        self.z_optimizer = None
        if self.bank is not None and settings.modulation == "learned":
            self.z_optimizer = torch.optim.AdamW(self.bank.parameters(), lr=settings.eta_z, weight_decay=0.0)
        self.ema = None
        if settings.ema_decay is not None:
            from diffusers.training_utils import EMAModel

            self.ema = EMAModel(self._trained_parameters(), decay=settings.ema_decay, update_after_step=0)

        roles = list(self.agents)
        wrapped = accelerator.prepare(*[self.agents[role].denoiser for role in roles])
        wrapped = wrapped if isinstance(wrapped, tuple) else (wrapped,)
        for role, denoiser in zip(roles, wrapped, strict=True):
            self.agents[role].denoiser = denoiser
        self.theta_optimizer = accelerator.prepare(self.theta_optimizer)
        if self.z_optimizer is not None:
            self.z_optimizer = accelerator.prepare(self.z_optimizer)
        accelerator.register_for_checkpointing(self.progress)
        if self.ema is not None:
            accelerator.register_for_checkpointing(self.ema)
        if self.bank is not None:
            accelerator.register_for_checkpointing(self.bank)
        accelerator.register_save_state_pre_hook(self._save_trained)
        accelerator.register_load_state_pre_hook(self._load_trained)

    def _trained_parameters(self) -> list[torch.nn.Parameter]:
        return [param for params in self.params.values() for param in params]

    def _trained_state(self, role: str) -> dict[str, torch.Tensor]:
        denoiser = self.accelerator.unwrap_model(self.agents[role].denoiser)
        return {
            name: param.detach().cpu().contiguous()
            for name, param in denoiser.named_parameters()
            if param.requires_grad
        }

    def _save_trained(self, models, weights, output_dir) -> None:
        # Only the trained weights (LoRA, or all of a fully fine-tuned denoiser) go into a checkpoint, not the
        # frozen base model: the diffusers training scripts' pattern.
        from safetensors.torch import save_file

        if self.accelerator.is_main_process:
            for role in self.agents:
                save_file(self._trained_state(role), str(Path(output_dir) / f"trained-{role}.safetensors"))
        weights.clear()

    def _load_trained(self, models, input_dir) -> None:
        from safetensors.torch import load_file

        models.clear()  # nothing else for Accelerate to load into them
        for role in self.agents:
            state = load_file(str(Path(input_dir) / f"trained-{role}.safetensors"))
            denoiser = self.accelerator.unwrap_model(self.agents[role].denoiser)
            named = dict(denoiser.named_parameters())
            with torch.no_grad():
                for name, value in state.items():
                    named[name].copy_(value)

    # --- the loop -------------------------------------------------------------------------------------------------

    def run(self, data: Path, samples: list, checkpoint: Path | None, on_step, start: Path | None) -> TrainResult:
        from safetensors.torch import save_file

        self.build()
        if start is not None and checkpoint is None:
            self.load_final(start)
        settings, accelerator = self.settings, self.accelerator
        result = TrainResult(run_dir=self.run_dir, steps=settings.max_steps, main_process=accelerator.is_main_process)
        if checkpoint is not None:
            accelerator.load_state(str(checkpoint))
            result.resumed_from = self.progress.step
            if accelerator.is_main_process:
                _truncate_log(self.run_dir / LOG_FILE, self.progress.step)
            self.say(f"resumed from {checkpoint.name} (step {self.progress.step})")
        probe_file = self.run_dir / PROBE_FILE
        if checkpoint is None:
            probe_before = self.probe_loss(data, samples)
            if accelerator.is_main_process:
                write_text_atomic(probe_file, json.dumps({"before": probe_before}))
                if self.bank is not None:
                    save_file(self.bank.tensors(), str(self.run_dir / INITIAL_MODULATION))
        else:
            probe_before = json.loads(probe_file.read_text(encoding="utf-8"))["before"]
        for step in range(self.progress.step + 1, settings.max_steps + 1):
            entry = self.step(data, samples, step)
            self.progress.step = step
            if accelerator.is_main_process:
                with open(self.run_dir / LOG_FILE, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry) + "\n")
            if on_step is not None and accelerator.is_main_process:
                on_step(entry)
            if step % settings.checkpoint_every == 0 or step == settings.max_steps:
                accelerator.wait_for_everyone()
                accelerator.save_state(str(self.run_dir / CHECKPOINTS / f"step-{step:06d}"))
        probe_after = self.probe_loss(data, samples)
        result.probe_loss = (probe_before, probe_after)
        if accelerator.is_main_process:
            write_text_atomic(probe_file, json.dumps({"before": probe_before, "after": probe_after}))
        if accelerator.is_main_process:
            self.save_adapters(result)
        result.log = read_log(self.run_dir)
        return result

    def step(self, data: Path, samples: list, step: int) -> dict:
        settings = self.settings
        started = time.perf_counter()
        losses = {role: 0.0 for role in self.agents}
        for micro in range(settings.gradient_accumulation_steps):
            # Each process takes its own slice of the step's samples, so processes see different data.
            offset = (step - 1) * settings.gradient_accumulation_steps + micro
            rank, world = self.accelerator.process_index, self.accelerator.num_processes
            indices = sample_order(len(samples), offset * world + rank + 1, settings.batch_size, settings.seed)
            batch_losses = self.chain_losses(data, [samples[i] for i in indices], settings.seed, offset * world + rank)
            total = sum(batch_losses.values())
            self.accelerator.backward(total / settings.gradient_accumulation_steps)
            for role, value in batch_losses.items():
                losses[role] += float(value.detach()) / settings.gradient_accumulation_steps
        if self.accelerator.num_processes > 1:
            # The logged losses are the mean over processes, as the gradients are.
            values = torch.tensor(list(losses.values()), device=self.accelerator.device)
            losses = dict(zip(losses, self.accelerator.reduce(values, reduction="mean").tolist(), strict=True))
        entry = {"step": step, "loss": sum(losses.values()), "losses": losses}
        entry.update(self.update())
        entry["seconds"] = round(time.perf_counter() - started, 4)
        return entry

    def chain_losses(self, data: Path, batch: list, seed: int, draw: int) -> dict[str, torch.Tensor]:
        """Each trained agent's teacher-forced denoising loss on ``batch``; noise from (seed, draw, role) only."""
        losses = {}
        for index, (role, agent) in enumerate(self.agents.items()):
            generator = torch.Generator().manual_seed(seed * 7_919 + draw * 101 + index)
            if role == "text_to_image":
                inputs = text_to_image_batch(data, batch)
            else:
                settings = self.profile.image_to_video
                inputs = image_to_video_batch(data, batch, settings.frames_per_segment, settings.fps)
            with self.accelerator.autocast():
                losses[role] = agent.loss(inputs, generator, snr_gamma=self.settings.snr_gamma)
        return losses

    def update(self) -> dict:
        """Algorithm 1, lines 10-14: z first, then alpha_i from the new z_i, then agent i's weights at alpha_i * eta."""
        accelerator, n, eta = self.accelerator, len(self.agents), self.settings.learning_rate
        record: dict = {}
        if self.z_optimizer is not None:
            if accelerator.num_processes > 1:
                for param in self.bank.parameters():
                    if param.grad is not None:
                        param.grad = accelerator.reduce(param.grad, reduction="mean")
            self.z_optimizer.step()
            self.z_optimizer.zero_grad(set_to_none=True)
        if self.bank is not None:
            record["z_norm"] = self.bank.norms()
            alphas = {role: norm / n for role, norm in record["z_norm"].items()}
            record["alpha"] = alphas
        else:
            alphas = {role: 1.0 for role in self.agents}
        for group in self.theta_optimizer.param_groups:
            group["lr"] = alphas[group["role"]] * eta
        record["lr"] = {group["role"]: group["lr"] for group in self.theta_optimizer.param_groups}
        self.theta_optimizer.step()
        self.theta_optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.step(self._trained_parameters())
        return record

    @torch.no_grad()
    def probe_loss(self, data: Path, samples: list) -> float:
        """The summed loss of the first batch under fixed noise: comparable before and after training."""
        batch = [samples[i % len(samples)] for i in range(min(self.settings.batch_size, len(samples)))]
        return float(sum(self.chain_losses(data, batch, PROBE_SEED, 0).values()))

    def save_adapters(self, result: TrainResult) -> None:
        """``RUN/adapters/`` for generation and ``RUN/final/`` for a next iteration, each appearing whole or not at all.

        With EMA the saved weights are the EMA weights (diffusers' training scripts save those); the raw ones stay in
        the checkpoints.
        """
        from mora_tools.adapters.modulation import MODULATION_FILE, save_modulation

        params = self._trained_parameters()
        if self.ema is not None:
            self.ema.store(params)
            self.ema.copy_to(params)
        staging = {name: self.run_dir / f".{name}.partial" for name in (ADAPTERS, FINAL_STATE)}
        try:
            for folder in staging.values():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir(parents=True)
            for role, agent in self.agents.items():
                agent.denoiser = self.accelerator.unwrap_model(agent.denoiser)
                agent.save_adapter(staging[ADAPTERS] / role)
            self._save_trained([], [], staging[FINAL_STATE])
            if self.bank is not None:
                for folder in staging.values():
                    save_modulation(folder / MODULATION_FILE, self.bank.tensors())
        finally:
            if self.ema is not None:
                self.ema.restore(params)
        for name, folder in staging.items():
            if (self.run_dir / name).exists():
                shutil.rmtree(self.run_dir / name)
            os.replace(folder, self.run_dir / name)

    def load_final(self, start: Path) -> None:
        """Start from another run's final weights and z (Algorithm 1's outer loop: the same agents train on)."""
        from mora_tools.adapters.modulation import MODULATION_FILE, load_modulation

        for role in self.agents:
            if not (start / FINAL_STATE / f"trained-{role}.safetensors").is_file():
                raise MoraError(f"{start} did not train {role}: start a fresh run, or train the same agents")
        self._load_trained([], start / FINAL_STATE)
        if self.bank is not None:
            path = start / FINAL_STATE / MODULATION_FILE
            if not path.is_file():
                raise MoraError(f"{start} was trained without modulation: its z cannot seed this run")
            with torch.no_grad():
                for role, tensor in load_modulation(path).items():
                    if role in self.bank.by_role:
                        self.bank.by_role[role].z.copy_(tensor.reshape(self.bank.by_role[role].z.shape))
        if self.ema is not None:
            # The EMA starts from the weights training starts from.
            self.ema.shadow_params = [param.detach().clone() for param in self._trained_parameters()]

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.agents.clear()
        self.accelerator.free_memory()


# --- the run folder -------------------------------------------------------------------------------------------------


def _mixed_precision(choice: str) -> str:
    if choice != "auto":
        if choice != "no" and not torch.cuda.is_available():
            raise MoraError(f"mixed precision {choice} needs a GPU here; use --mixed-precision no (or auto) on a CPU")
        return choice
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


def _resumed_record(run: Path) -> TrainRecord:
    try:
        return TrainRecord.model_validate_json((run / SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        raise MoraError(f"{run} has checkpoints but no readable {SETTINGS_FILE}: it cannot be resumed") from None


def _planned_record(
    run: Path, data: Path, settings: TrainSettings, samples: int, *, resuming: bool, start_from: Path | None
) -> TrainRecord:
    """A resumed run's ``train.json``, checked against the data; or a new run's, not yet written."""
    fingerprint = sha256_file(data / "metadata.jsonl")
    if resuming:
        record = _resumed_record(run)
        if record.data_fingerprint != fingerprint:
            raise MoraError(f"{data} is not the data {run} was trained on ({record.data}): start a new run instead")
        return record
    if (run / SETTINGS_FILE).exists():
        raise MoraError(f"{run} already holds a training run: continue it with --resume, or choose another --out")
    return TrainRecord(
        settings=settings,
        data=str(data.resolve()),
        data_fingerprint=fingerprint,
        samples=samples,
        start_from=str(start_from.resolve()) if start_from else None,
        mora_version=__version__,
        created=now_iso(),
    )


def _write_record(run: Path, record: TrainRecord) -> None:
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MoraError(f"cannot create {run}: {error.strerror or error}") from None
    write_text_atomic(run / SETTINGS_FILE, record.model_dump_json(indent=2))


def checkpoints(run: Path) -> list[Path]:
    """The run's checkpoints, oldest first."""
    folder = run / CHECKPOINTS
    return sorted(folder.glob("step-*")) if folder.is_dir() else []


def _checkpoint_to_resume(run: Path, resume: bool | str | os.PathLike) -> Path | None:
    if resume is False or resume is None:
        return None
    if resume is True:
        found = checkpoints(run)
        if not found:
            if (run / SETTINGS_FILE).is_file():
                raise MoraError(f"{run} has no checkpoint yet (the first comes at --checkpoint-every): start it again")
            raise MoraError(f"no training run in {run} to resume")
        return found[-1]
    checkpoint = Path(resume)
    if not (checkpoint / "custom_checkpoint_0.pkl").is_file():
        raise MoraError(f"{checkpoint} is not a training checkpoint (expected RUN/{CHECKPOINTS}/step-NNNNNN)")
    if checkpoint.parent.parent.resolve() != run.resolve():
        raise MoraError(f"checkpoint {checkpoint} belongs to another run than {run}")
    return checkpoint


def read_log(run: Path) -> list[dict]:
    """The run's per-step log records."""
    path = Path(run) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _truncate_log(path: Path, step: int) -> None:
    # Steps after the checkpoint are redone: their old lines go.
    kept = [json.dumps(entry) for entry in read_log(path.parent) if entry["step"] <= step]
    write_text_atomic(path, "".join(line + "\n" for line in kept))


__all__ = ["ADAPTERS", "ModulationBank", "TrainRecord", "TrainResult", "checkpoints", "read_log", "train"]
