"""The director: natural language -> a :class:`~mora_agents.messages.VideoRequest` (which SOP, which inputs),
or a :class:`~mora_agents.messages.ClarifyingQuestion`; resolves "it", "the last clip", "the kite one" against
the session and says what it understood.

A turn is read into one typed :class:`TurnPlan`: the closed-grammar front (:mod:`._front`, with :mod:`._paths`
and :mod:`._durations`) reads the facts, artifacts describe themselves (:mod:`._describe`), a resolver fills the
plan (the trained model, :mod:`._ranker` and :mod:`._learned`, made by :mod:`.training` from :mod:`.corpus` and
:mod:`.training_data`; or an LLM through a per-turn schema, :mod:`._llm_plan`), the checks after either
(:mod:`._plan`), and the answer (:mod:`._answer`). :mod:`._agent` is the AutoGen agent around it.
"""

from mora_agents.director._agent import DirectorAgent, RouteTrace
from mora_agents.director._describe import describe, made_from
from mora_agents.director._durations import parse_duration
from mora_agents.director._explanation import explain
from mora_agents.director._front import Mention, TurnReading, read_turn
from mora_agents.director._labels import artifact_label, artifact_line
from mora_agents.director._learned import ASK_BELOW, LearnedResolver
from mora_agents.director._llm_plan import LlmResolver
from mora_agents.director._paths import find_paths
from mora_agents.director._plan import (
    PlanBinding,
    PlanQuestion,
    PlanResolver,
    TurnPlan,
    check_plan,
    plan_schema,
    with_answers,
)
from mora_agents.director._session_file import read_session_artifacts

__all__ = [
    "ASK_BELOW",
    "DirectorAgent",
    "LearnedResolver",
    "LlmResolver",
    "Mention",
    "PlanBinding",
    "PlanQuestion",
    "PlanResolver",
    "RouteTrace",
    "TurnPlan",
    "TurnReading",
    "artifact_label",
    "artifact_line",
    "check_plan",
    "describe",
    "explain",
    "find_paths",
    "made_from",
    "parse_duration",
    "plan_schema",
    "read_session_artifacts",
    "read_turn",
    "with_answers",
]
