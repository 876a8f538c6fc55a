"""The agents: AutoGen ``BaseChatAgent``s that exchange ``StructuredMessage``s.

A1 :class:`PromptEnhancerAgent` · A2 :class:`TextToImageAgent` · A3 :class:`ImageToImageAgent` ·
A4 :class:`ImageToVideoAgent` · A5 :class:`VideoConnectionAgent` · :class:`HumanProxyAgent` (reviews) ·
:class:`JudgeAgent` and :class:`JudgePanelReviewer` (MLLM / metric judges with a human tie-break).
Each stage agent calls exactly one tool from ``mora_tools/``; A2-A5 share the tool call, its out-of-memory retry
and the artifact it writes (``_tool_agent``), and say only how their request becomes the tool's inputs.

This layer imports the tools, the LLM and the media and workspace base; the SOP engine, the cluster, the studio and
the layers above import it, through the names exported here only.
"""

from mora_agents.agents._assembly import ToolOptions, make_agents
from mora_agents.agents._human_proxy import (
    HumanProxyAgent,
    Reviewer,
    ScriptedDecisions,
    TextReviewer,
    auto_accept,
    console_input,
)
from mora_agents.agents._image_to_image import ImageToImageAgent
from mora_agents.agents._image_to_video import ImageToVideoAgent
from mora_agents.agents._judge import (
    CRITERIA,
    CRITERION_WEIGHTS,
    JudgeAgent,
    MetricJudge,
    OpenAIJudge,
    criterion_weights,
    judge_from_spec,
)
from mora_agents.agents._judge_panel import JudgePanelReviewer
from mora_agents.agents._prompt_enhancer import PromptEnhancerAgent
from mora_agents.agents._roles import AGENT_ROLES, ROLE_ALIASES, ROLES, AgentRole
from mora_agents.agents._stage_agent import StageAgent
from mora_agents.agents._text_to_image import TextToImageAgent
from mora_agents.agents._video_connection import VideoConnectionAgent

__all__ = [
    "AGENT_ROLES",
    "ROLES",
    "ROLE_ALIASES",
    "AgentRole",
    "CRITERIA",
    "CRITERION_WEIGHTS",
    "HumanProxyAgent",
    "ImageToImageAgent",
    "ImageToVideoAgent",
    "JudgeAgent",
    "JudgePanelReviewer",
    "Reviewer",
    "TextReviewer",
    "MetricJudge",
    "OpenAIJudge",
    "PromptEnhancerAgent",
    "ScriptedDecisions",
    "StageAgent",
    "TextToImageAgent",
    "ToolOptions",
    "VideoConnectionAgent",
    "auto_accept",
    "console_input",
    "criterion_weights",
    "judge_from_spec",
    "make_agents",
]
