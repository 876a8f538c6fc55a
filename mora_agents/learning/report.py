"""A training run's report: loss curve, alpha_i per agent over steps, a heat-map of the modulation embeddings (like the
paper's Figure 7), evaluation metrics before and after, and the agent success rate (Table 13), as PNG plots + JSON.

``RUN/report/``: ``loss.png``, ``alpha.png`` (absent with modulation off), ``modulation.png`` (likewise),
``report.json``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from mora_agents.workspace import write_text_atomic

REPORT_DIR = "report"


def write_report(run: str | os.PathLike, comparison: dict | None = None, data_summary: dict | None = None) -> Path:
    """Draw the plots and write ``report.json`` for the training run in ``run``; returns the report folder.

    Args:
        run: the training run folder (``log.jsonl``, ``train.json``, ``adapters/``).
        comparison: evaluation before/after (``{"before": {metric: mean}, "after": {...}, ...}``), if measured.
        data_summary: the synthesis counts behind the data (sets, kept, by judges, agent success rate), if known.
    """
    from mora_agents.learning.training import INITIAL_MODULATION, PROBE_FILE, SETTINGS_FILE, read_log

    run = Path(run)
    folder = run / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    # Redrawing keeps what only the first drawing knew (the comparison, the data's counts).
    earlier = _read_json(folder / "report.json") or {}
    comparison = comparison if comparison is not None else earlier.get("evaluation")
    data_summary = data_summary if data_summary is not None else earlier.get("data")
    log = read_log(run)
    initial, final = _modulation(run / INITIAL_MODULATION), _modulation(run / "adapters" / "modulation.safetensors")
    report: dict[str, Any] = {
        "settings": json.loads((run / SETTINGS_FILE).read_text(encoding="utf-8"))["settings"],
        "steps": len(log),
        "loss": {"first": log[0]["loss"], "last": log[-1]["loss"]} if log else None,
        "probe_loss": _read_json(run / PROBE_FILE),
        "plots": {"loss": "loss.png"},
    }
    _plot_loss(log, folder / "loss.png")
    if log and "alpha" in log[0]:
        initial_alpha = {role: float(z.norm()) / len(initial) for role, z in initial.items()} if initial else None
        report["alpha"] = {"initial": initial_alpha, "first_step": log[0]["alpha"], "last_step": log[-1]["alpha"]}
        _plot_alpha(log, initial_alpha, folder / "alpha.png")
        report["plots"]["alpha"] = "alpha.png"
    if initial and final:
        _plot_modulation(initial, final, folder / "modulation.png")
        report["plots"]["modulation"] = "modulation.png"
        report["modulation_norm"] = {
            role: {"initial": float(initial[role].norm()), "final": float(final[role].norm())} for role in final
        }
    if comparison is not None:
        report["evaluation"] = comparison
    if data_summary is not None:
        report["data"] = data_summary
    write_text_atomic(folder / "report.json", json.dumps(report, indent=2, default=_json_default))
    return folder


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _json_default(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _modulation(path: Path) -> dict:
    if not path.is_file():
        return {}
    from mora_tools.adapters.modulation import load_modulation

    return {role: tensor.float().reshape(-1) for role, tensor in load_modulation(path).items()}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here or on a training node
    import matplotlib.pyplot as plt

    return plt


_LABELS = {"text_to_image": "A2 text-to-image", "image_to_video": "A4 image-to-video"}


def _plot_loss(log: list[dict], path: Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.5))
    steps = [entry["step"] for entry in log]
    axes.plot(steps, [entry["loss"] for entry in log], label="L_final", linewidth=2)
    for role in log[0]["losses"] if log else []:
        axes.plot(steps, [entry["losses"][role] for entry in log], label=_LABELS.get(role, role), alpha=0.7)
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title("Training loss (teacher-forced chain)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_alpha(log: list[dict], initial: dict | None, path: Path) -> None:
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.5))
    for role in log[0]["alpha"]:
        steps = [entry["step"] for entry in log]
        values = [entry["alpha"][role] for entry in log]
        if initial:
            steps, values = [0, *steps], [initial[role], *values]
        axes.plot(steps, values, marker="o", markersize=3, label=_LABELS.get(role, role))
    axes.set_xlabel("step")
    axes.set_ylabel("alpha_i = ||z_i|| / n")
    axes.set_title("Modulation factor per agent")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _grid(vector, columns: int | None = None):
    """A 1-D embedding as a near-square 2-D grid, min-max scaled to [0, 1] (Figure 7's colour range)."""
    import numpy as np

    values = vector.detach().cpu().numpy().astype("float64")
    columns = columns or math.ceil(math.sqrt(values.size))
    rows = math.ceil(values.size / columns)
    padded = np.full(rows * columns, np.nan)
    padded[: values.size] = values
    low, high = np.nanmin(padded), np.nanmax(padded)
    scaled = (padded - low) / (high - low) if high > low else np.zeros_like(padded)
    return scaled.reshape(rows, columns)


def _plot_modulation(initial: dict, final: dict, path: Path) -> None:
    plt = _pyplot()
    roles = list(final)
    figure, axes = plt.subplots(2, len(roles), figsize=(3.2 * len(roles), 6), squeeze=False)
    image = None
    for column, role in enumerate(roles):
        for row, (title, embeddings) in enumerate((("before fine-tuning", initial), ("after fine-tuning", final))):
            axis = axes[row][column]
            image = axis.imshow(_grid(embeddings[role]), cmap="viridis", vmin=0.0, vmax=1.0)
            axis.set_title(
                f"{_LABELS.get(role, role)}\n{title}, ||z|| = {float(embeddings[role].norm()):.3f}", fontsize=8
            )
            axis.axis("off")
    figure.colorbar(image, ax=axes, location="left", shrink=0.6)
    figure.savefig(path, dpi=100)
    plt.close(figure)


__all__ = ["REPORT_DIR", "write_report"]
