"""``mora learn``: the paper's learning loop as three commands (synthesize, train, loop) plus ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mora_agents.console import LlmOption, RichProgress, err, out, user_errors
from mora_agents.errors import MoraError

learn_app = typer.Typer(
    help="The paper's learning loop (Algorithm 1): synthesize training data with judges and a human, fine-tune the "
    "agents with self-modulation, or run both in a loop.",
    no_args_is_help=True,
)

PromptsOption = Annotated[
    Path, typer.Option("--prompts", help="Seed prompts: one per line (# comments), or a YAML list.")
]
CandidatesOption = Annotated[int, typer.Option(help="Candidate videos per prompt (the paper: 4).", min=1)]
VariantsOption = Annotated[
    int, typer.Option(help="Enhanced prompts per seed prompt: variant 1 is the seed, the rest A1 rewrites.", min=1)
]
JudgeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--judge",
        help="A judge (repeat; the paper uses two): metric, 'metric:motion_smoothness=1,flicker=-1', openai, "
        "openai:MODEL (MORA_JUDGE_* env). Default: metric and 'metric:flicker=-1'.",
    ),
]
HumanOption = Annotated[
    str,
    typer.Option(
        help="Who decides when judges disagree: console (you), scripted (--decision), queue (DATA/queue.yaml, "
        "answered later; rerun to apply), none (drop the set: the paper's w/o-human ablation)."
    ),
]
DecisionOption = Annotated[
    list[str] | None, typer.Option("--decision", help="Scripted human answer (repeat, in order): an index or discard.")
]
SopOption = Annotated[str, typer.Option(help="The task whose agents make the candidates.")]
ProfileOption = Annotated[str, typer.Option(help="Model profile (the data's and the trained models').")]
SeedOption = Annotated[
    int, typer.Option(help="Seeds the candidates, the criteria, the data order and the noise.", min=0)
]
DurationOption = Annotated[float | None, typer.Option(help="Seconds per candidate video (default: the task's).")]
AgentsOption = Annotated[str, typer.Option(help="Agents to fine-tune: a2 (text_to_image), a4 (image_to_video).")]
LrOption = Annotated[float | None, typer.Option(help="eta, the base learning rate (paper: 1e-5).")]
BatchSizeOption = Annotated[int | None, typer.Option(help="Samples per step (paper: 4).")]
MaxStepsOption = Annotated[int | None, typer.Option(help="Optimizer steps (paper: 12; per iteration in a loop).")]
CheckpointEveryOption = Annotated[int | None, typer.Option(help="Steps between checkpoints (paper: 4).")]
NoModulationOption = Annotated[
    bool, typer.Option("--no-modulation", help="Ablation: plain end-to-end fine-tuning, no z.")
]
FixedModulationOption = Annotated[
    bool, typer.Option("--fixed-modulation", help="Ablation: z appended but not optimised.")
]
MetricsOption = Annotated[
    str | None, typer.Option(help="Metrics of the comparison, comma-separated (default: the task's).")
]
MetricsProfileOption = Annotated[str, typer.Option(help="Metrics profile for the comparison.")]
DEFAULT_JUDGES = ["metric", "metric:flicker=-1"]


def _metrics(text: str | None) -> list[str] | None:
    from mora_agents.evaluation.selection import parse_metrics

    return parse_metrics(text)


def _modulation(off: bool, fixed: bool) -> str:
    if off and fixed:
        raise MoraError("--no-modulation and --fixed-modulation exclude each other")
    return "off" if off else "fixed" if fixed else "learned"


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


@learn_app.command("synthesize")
@user_errors
def synthesize_command(
    prompts: PromptsOption,
    out_dir: Annotated[Path, typer.Option("--out", help="The DATA folder (created; rerun to resume).")],
    candidates: CandidatesOption = 4,
    variants: VariantsOption = 1,
    judge: JudgeOption = None,
    human: HumanOption = "console",
    decision: DecisionOption = None,
    sop: SopOption = "text_to_video",
    profile: ProfileOption = "tiny",
    adapters: Annotated[Path | None, typer.Option(help="Generate with a training run's adapters.")] = None,
    seed: SeedOption = 0,
    duration: DurationOption = None,
    llm: LlmOption = None,
) -> None:
    """Data-free synthesis: K candidates per enhanced prompt, ranked by judges; a human breaks ties."""
    from mora_agents.learning.synthesis import synthesize

    summary = synthesize(
        prompts,
        out_dir,
        candidates=candidates,
        variants=variants,
        judges=list(judge or DEFAULT_JUDGES),
        human=human,
        decisions=list(decision or []),
        sop=sop,
        profile=profile,
        adapters=str(adapters) if adapters else None,
        seed=seed,
        duration=duration,
        llm=llm,
        log=lambda line: err.print(line, highlight=False, markup=False),
    )
    out.print(
        f"{summary.kept} kept, {summary.discarded} discarded, {summary.pending} waiting in the queue "
        f"(of {summary.sets} sets; agent success rate {_rate(summary.agent_success_rate)})",
        highlight=False,
    )
    out.print(f"data: {out_dir}", highlight=False, soft_wrap=True)


def _settings(**values):
    from mora_agents.learning.settings import parse_settings

    return parse_settings(**values)


@learn_app.command("train")
@user_errors
def train_command(
    data: Annotated[Path, typer.Argument(help="A DATA folder from `mora learn synthesize`.")],
    out_dir: Annotated[Path, typer.Option("--out", help="The training run folder.")],
    agents: AgentsOption = "a2,a4",
    profile: ProfileOption = "tiny",
    lr: LrOption = None,
    modulation_lr: Annotated[float | None, typer.Option(help="eta_z for the z_i (default: --lr).")] = None,
    batch_size: BatchSizeOption = None,
    grad_accum: Annotated[int | None, typer.Option(help="Gradient accumulation steps (paper: 1).")] = None,
    max_steps: MaxStepsOption = None,
    checkpoint_every: CheckpointEveryOption = None,
    snr_gamma: Annotated[float | None, typer.Option(help="Min-SNR gamma (paper: 5.0).")] = None,
    no_snr: Annotated[bool, typer.Option("--no-snr", help="Plain loss, no SNR weighting.")] = False,
    ema_decay: Annotated[float | None, typer.Option(help="EMA decay from step 0 (paper: 0.999).")] = None,
    no_ema: Annotated[bool, typer.Option("--no-ema", help="Save the raw weights, no EMA.")] = False,
    no_gradient_checkpointing: Annotated[bool, typer.Option("--no-gradient-checkpointing")] = False,
    mixed_precision: Annotated[str, typer.Option(help="auto (bf16 on a GPU that has it), no, fp16, bf16.")] = "auto",
    lora_rank: Annotated[int | None, typer.Option(help="LoRA rank.")] = None,
    full: Annotated[bool, typer.Option("--full", help="Full fine-tuning instead of LoRA.")] = False,
    no_modulation: NoModulationOption = False,
    fixed_modulation: FixedModulationOption = False,
    seed: SeedOption = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run from its latest checkpoint.")] = False,
    resume_from: Annotated[Path | None, typer.Option(help="Continue from this checkpoint.")] = None,
    start_from: Annotated[Path | None, typer.Option(help="Start from a finished run's weights and z.")] = None,
    evaluate: Annotated[
        bool, typer.Option(help="Generate the data's prompts without and with the adapters and evaluate both.")
    ] = True,
    eval_prompts: Annotated[int, typer.Option(help="How many of the data's prompts to compare.", min=1)] = 2,
    metrics: MetricsOption = None,
    metrics_profile: MetricsProfileOption = "real",
) -> None:
    """Self-modulated fine-tuning (Algorithm 1) of the chosen agents on DATA; adapters, log, report in OUT."""
    from mora_agents.learning.report import write_report
    from mora_agents.learning.training import train

    settings = _settings(
        agents=agents,
        profile=profile,
        learning_rate=lr,
        modulation_learning_rate=modulation_lr,
        batch_size=batch_size,
        gradient_accumulation_steps=grad_accum,
        max_steps=max_steps,
        checkpoint_every=checkpoint_every,
        gradient_checkpointing=not no_gradient_checkpointing,
        mixed_precision=mixed_precision,
        lora_rank=lora_rank,
        full_finetune=full,
        modulation=_modulation(no_modulation, fixed_modulation),
        seed=seed,
    )
    updates = {}
    if no_snr:
        updates["snr_gamma"] = None
    elif snr_gamma is not None:
        updates["snr_gamma"] = snr_gamma
    if no_ema:
        updates["ema_decay"] = None
    elif ema_decay is not None:
        updates["ema_decay"] = ema_decay
    settings = _settings(**{**settings.model_dump(), **updates}) if updates else settings
    say = lambda line: err.print(line, highlight=False, markup=False)  # noqa: E731
    with RichProgress(err) as progress:
        progress.start("train", settings.max_steps, "steps")

        def on_step(entry: dict) -> None:
            progress.advance("train")
            alpha = " ".join(f"alpha[{r}]={a:.4f}" for r, a in entry.get("alpha", {}).items())
            progress.log(f"step {entry['step']}: loss {entry['loss']:.4f} {alpha}")

        result = train(
            data,
            out_dir,
            settings,
            resume=resume_from if resume_from else resume,
            start_from=start_from,
            log=progress.log,
            on_step=on_step,
        )
    if not result.main_process:
        return  # the main process evaluates and reports
    comparison = None
    if evaluate:
        comparison = _compare(data, out_dir, settings, eval_prompts, _metrics(metrics), metrics_profile, say)
    folder = write_report(out_dir, comparison=comparison)
    before, after = result.probe_loss or (float("nan"), float("nan"))
    out.print(f"probe loss {before:.4f} -> {after:.4f} over {result.steps} steps", highlight=False)
    out.print(f"adapters: {result.adapters}", highlight=False, soft_wrap=True)
    out.print(f"report: {folder}", highlight=False, soft_wrap=True)


def _compare(data: Path, run: Path, settings, count: int, metrics, metrics_profile: str, say) -> dict:
    from mora_agents.learning.comparison import compare_generation
    from mora_agents.learning.dataset import load_training_data

    samples = load_training_data(data)
    prompts = list(dict.fromkeys(sample.seed_prompt for sample in samples))[:count]
    sop = samples[0].sop
    return compare_generation(
        prompts, run / "comparison", after=run, profile=settings.profile, sop=sop, metrics=metrics,
        metrics_profile=metrics_profile, log=say,
    )  # fmt: skip


@learn_app.command("loop")
@user_errors
def loop_command(
    prompts: PromptsOption,
    out_dir: Annotated[Path, typer.Option("--out", help="The loop folder (rerun to resume).")],
    iterations: Annotated[int, typer.Option(help="Synthesize-then-train rounds (Algorithm 1's N).", min=1)] = 1,
    candidates: CandidatesOption = 4,
    variants: VariantsOption = 1,
    judge: JudgeOption = None,
    human: HumanOption = "console",
    decision: DecisionOption = None,
    sop: SopOption = "text_to_video",
    agents: AgentsOption = "a2,a4",
    profile: ProfileOption = "tiny",
    lr: LrOption = None,
    max_steps: MaxStepsOption = None,
    batch_size: BatchSizeOption = None,
    checkpoint_every: CheckpointEveryOption = None,
    no_modulation: NoModulationOption = False,
    fixed_modulation: FixedModulationOption = False,
    seed: SeedOption = 0,
    duration: DurationOption = None,
    llm: LlmOption = None,
    evaluate: Annotated[bool, typer.Option(help="Compare generation before/after each iteration.")] = True,
    metrics: MetricsOption = None,
    metrics_profile: MetricsProfileOption = "real",
) -> None:
    """Algorithm 1 end to end: per iteration synthesize with the current adapters, train, compare; all kept."""
    from mora_agents.learning.loop import learn_loop

    settings = _settings(
        agents=agents,
        profile=profile,
        learning_rate=lr,
        max_steps=max_steps,
        batch_size=batch_size,
        checkpoint_every=checkpoint_every,
        modulation=_modulation(no_modulation, fixed_modulation),
        seed=seed,
    )
    record = learn_loop(
        prompts,
        out_dir,
        iterations=iterations,
        candidates=candidates,
        variants=variants,
        judges=list(judge or DEFAULT_JUDGES),
        human=human,
        decisions=list(decision or []),
        sop=sop,
        settings=settings,
        seed=seed,
        duration=duration,
        llm=llm,
        evaluate=evaluate,
        metrics=_metrics(metrics),
        metrics_profile=metrics_profile,
        log=lambda line: err.print(line, highlight=False, markup=False),
    )
    for entry in record["iterations"]:
        data = entry["data"]
        alpha = (entry.get("train") or {}).get("alpha", {}).get("last_step")
        alpha_text = ", ".join(f"{role} {value:.4f}" for role, value in (alpha or {}).items())
        out.print(
            f"iteration {entry['iteration']}: {data['kept']} kept of {data['sets']} sets, "
            f"agent success rate {_rate(data['agent_success_rate'])}" + (f"; alpha {alpha_text}" if alpha_text else ""),
            highlight=False,
        )
    out.print(f"loop: {out_dir}", highlight=False, soft_wrap=True)


@learn_app.command("report")
@user_errors
def report_command(run: Annotated[Path, typer.Argument(help="A training run folder.")]) -> None:
    """Redraw a training run's report (plots + report.json) from its log and modulation files."""
    from mora_agents.learning.report import write_report
    from mora_agents.learning.training import SETTINGS_FILE

    if not (run / SETTINGS_FILE).is_file():
        raise MoraError(f"no training run in {run} (expected {run / SETTINGS_FILE})")
    out.print(f"report: {write_report(run)}", highlight=False, soft_wrap=True)


__all__ = ["learn_app"]
