"""The director: natural language -> a :class:`~mora_agents.messages.VideoRequest` (which SOP, which inputs),
or a :class:`~mora_agents.messages.ClarifyingQuestion`; resolves "it" / "the last clip" against the session.
"""

from mora_agents.director._agent import CUES, DECIDE_MARGIN, Cue, DirectorAgent, RouteTrace, parse_choice
from mora_agents.director._embedding import EmbeddingRouter, Ranking, minilm_encoder
from mora_agents.director._session_file import read_session_artifacts
from mora_agents.director._slots import TurnFacts, find_paths, find_references, parse_duration

__all__ = [
    "CUES",
    "DECIDE_MARGIN",
    "Cue",
    "DirectorAgent",
    "EmbeddingRouter",
    "Ranking",
    "RouteTrace",
    "TurnFacts",
    "find_paths",
    "find_references",
    "minilm_encoder",
    "parse_choice",
    "parse_duration",
    "read_session_artifacts",
]
