"""The paper's learning loop (§3.2, Algorithm 1, App. A.6-A.10).

Data-free synthesis (:func:`synthesize`): seed prompts -> A1's variations -> K candidate videos per prompt -> a judge
panel ranks them under one of the paper's ten criteria -> agreement keeps the top-1, disagreement goes to a human ->
a DATA folder that Hugging Face ``datasets`` loads (``load_dataset("videofolder", data_dir=DATA)``) and
:func:`load_training_data` validates for training. Self-modulated fine-tuning (:func:`train`) on DATA, the outer loop
(:func:`learn_loop`) and the report (:func:`write_report`).

Names load on first use: ``mora --help`` must not pay for AutoGen, diffusers and torch.
"""

import importlib

_EXPORTS = {
    "HUMAN_MODES": "_choosers",
    "parse_choice": "_choosers",
    "METADATA_NAME": "dataset",
    "CandidateRecord": "dataset",
    "SetState": "dataset",
    "SynthesisSettings": "dataset",
    "TrainingSample": "dataset",
    "load_training_data": "dataset",
    "write_metadata": "dataset",
    "SynthesisSummary": "synthesis",
    "candidate_seed": "candidate_runs",
    "draw_criterion": "synthesis",
    "read_prompts": "prompts",
    "synthesize": "synthesis",
    "TrainSettings": "settings",
    "TrainResult": "training",
    "train": "training",
    "learn_loop": "loop",
    "write_report": "report",
    "compare_generation": "comparison",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)


__all__ = sorted(_EXPORTS)
