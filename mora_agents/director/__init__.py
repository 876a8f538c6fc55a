"""The director: natural language -> a :class:`~mora_agents.messages.VideoRequest` (which SOP, which inputs),
or a :class:`~mora_agents.messages.ClarifyingQuestion`; resolves "it", "the last clip", "the kite one" against
the session and says what it understood.

Two ways of reading a turn live here while the second one overtakes the first:

- the rules (the default): closed grammars, word tables, the sentence embedding and an LLM on near-ties
  (:mod:`._slots`, :mod:`._content`, :mod:`._inputs`, :mod:`._settle`);
- a typed :class:`TurnPlan` filled by a resolver (``--director learned`` / ``llm``): the closed-grammar front
  (:mod:`._front`), artifacts describing themselves (:mod:`._describe`), the learned model (:mod:`._ranker`,
  :mod:`._learned`, trained by :mod:`.training` on :mod:`.corpus` and :mod:`.training_data`) or an LLM through a
  per-turn schema (:mod:`._llm_plan`), the checks after either (:mod:`._plan`), and the answer (:mod:`._answer`).
"""

from mora_agents.director._agent import DECIDE_MARGIN, DirectorAgent, RouteTrace, parse_choice
from mora_agents.director._content import CONTENT_MARGIN, bind_content, find_content_phrases
from mora_agents.director._describe import describe, made_from
from mora_agents.director._embedding import EmbeddingRouter, Ranking, minilm_encoder
from mora_agents.director._explanation import explain
from mora_agents.director._front import Mention, TurnReading, read_turn
from mora_agents.director._labels import artifact_label, artifact_line
from mora_agents.director._learned import ASK_BELOW, LearnedResolver
from mora_agents.director._llm_plan import LlmResolver
from mora_agents.director._plan import PlanBinding, PlanQuestion, PlanResolver, TurnPlan, check_plan, plan_schema
from mora_agents.director._session_file import read_session_artifacts
from mora_agents.director._slots import TurnFacts, bind_relative, find_paths, find_references, parse_duration

__all__ = [
    "ASK_BELOW",
    "LearnedResolver",
    "LlmResolver",
    "Mention",
    "PlanBinding",
    "PlanQuestion",
    "PlanResolver",
    "TurnPlan",
    "TurnReading",
    "check_plan",
    "describe",
    "made_from",
    "plan_schema",
    "read_turn",
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
