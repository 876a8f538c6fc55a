"""The director: natural language -> a :class:`~mora_agents.messages.VideoRequest` (which SOP, which inputs),
or a :class:`~mora_agents.messages.ClarifyingQuestion`; resolves "it", "the last clip", "the kite one" against
the session and says what it understood.
"""

from mora_agents.director._agent import DECIDE_MARGIN, DirectorAgent, RouteTrace, parse_choice
from mora_agents.director._content import CONTENT_MARGIN, bind_content, find_content_phrases
from mora_agents.director._embedding import EmbeddingRouter, Ranking, minilm_encoder
from mora_agents.director._explanation import explain
from mora_agents.director._labels import artifact_label, artifact_line
from mora_agents.director._session_file import read_session_artifacts
from mora_agents.director._slots import TurnFacts, bind_relative, find_paths, find_references, parse_duration

__all__ = [
    "CONTENT_MARGIN",
    "DECIDE_MARGIN",
    "DirectorAgent",
    "artifact_label",
    "artifact_line",
    "bind_content",
    "bind_relative",
    "explain",
    "find_content_phrases",
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
