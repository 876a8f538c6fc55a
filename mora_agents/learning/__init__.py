"""The paper's learning loop (§3.2, Algorithm 1, App. A.6-A.10).

Data-free synthesis (:func:`synthesize`): seed prompts -> A1's variations -> K candidate videos per prompt -> a judge
panel ranks them under one of the paper's ten criteria -> agreement keeps the top-1, disagreement goes to a human ->
a DATA folder that Hugging Face ``datasets`` loads (``load_dataset("videofolder", data_dir=DATA)``) and
:func:`load_training_data` validates for training.
"""

from mora_agents.learning._choosers import HUMAN_MODES, parse_choice
from mora_agents.learning.dataset import METADATA_NAME, TrainingSample, load_training_data, write_metadata
from mora_agents.learning.synthesize import (
    CandidateRecord,
    SetState,
    SynthesisSettings,
    SynthesisSummary,
    candidate_seed,
    draw_criterion,
    read_prompts,
    synthesize,
)

__all__ = [
    "HUMAN_MODES",
    "METADATA_NAME",
    "CandidateRecord",
    "SetState",
    "SynthesisSettings",
    "SynthesisSummary",
    "TrainingSample",
    "candidate_seed",
    "draw_criterion",
    "load_training_data",
    "parse_choice",
    "read_prompts",
    "synthesize",
    "write_metadata",
]
