"""The agent roles, one entry each: what an SOP step names, which agent answers, which profile settings and
which tool it runs on. A new role is one :class:`AgentRole` here, its agent and tool classes, and its settings:
a :class:`~mora_tools.loading.profiles.RoleSettings` subclass (which models it loads) as a field of the profile. The SOP
schema, the studio, loading, ``mora models`` and the CLI read everything else from this table and those classes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mora_agents.agents._image_to_image import ImageToImageAgent
from mora_agents.agents._image_to_video import ImageToVideoAgent
from mora_agents.agents._prompt_enhancer import PromptEnhancerAgent
from mora_agents.agents._stage_agent import StageAgent
from mora_agents.agents._text_to_image import TextToImageAgent
from mora_agents.agents._video_connection import VideoConnectionAgent


@dataclass(frozen=True)
class AgentRole:
    """One role of the studio (paper App. A.1: A1..A5)."""

    name: str
    """What an SOP step's ``agent`` says, e.g. ``text_to_image``."""
    paper_id: str
    """Its id in the paper, accepted as an alias (``A2``)."""
    agent: type[StageAgent]
    """The AutoGen agent; its ``request_type`` / ``output_type`` are the messages it takes and gives."""
    agent_name: str
    """The agent instance's name, e.g. ``a2_text_to_image``."""
    profile_field: str | None = None
    """The :class:`~mora_tools.loading.profiles.ModelProfile` field holding this role's model settings (``None``: the
    LLM)."""
    tool: str | None = None
    """``module:Class`` of the tool, built with ``Class.from_profile(profile, device, **options)``."""
    adapted: bool = False
    """``mora learn`` can train it: a training run's adapters are applied when the tool loads."""
    uses: tuple[str, ...] = ()
    """The role whose tool this one's tool takes as ``animator=`` (A5's ``a4_blend`` animates with A4's)."""
    agent_options: Callable[[Any], Mapping[str, Any]] = field(default=lambda profile: {})
    """Extra agent arguments read from the profile (A5: the frame rate)."""

    def tool_class(self) -> type:
        module, _, name = (self.tool or "").partition(":")
        return getattr(importlib.import_module(module), name)


ROLES: dict[str, AgentRole] = {
    role.name: role
    for role in (
        AgentRole("prompt_enhancer", "A1", PromptEnhancerAgent, "a1_prompt_enhancer"),
        AgentRole(
            "text_to_image",
            "A2",
            TextToImageAgent,
            "a2_text_to_image",
            "text_to_image",
            "mora_tools.pipelines.text_to_image:TextToImageTool",
            adapted=True,
        ),
        AgentRole(
            "image_to_image",
            "A3",
            ImageToImageAgent,
            "a3_image_to_image",
            "image_to_image",
            "mora_tools.pipelines.image_to_image:ImageToImageTool",
        ),
        AgentRole(
            "image_to_video",
            "A4",
            ImageToVideoAgent,
            "a4_image_to_video",
            "image_to_video",
            "mora_tools.pipelines.image_to_video:ImageToVideoTool",
            adapted=True,
        ),
        AgentRole(
            "video_connection",
            "A5",
            VideoConnectionAgent,
            "a5_video_connection",
            "video_connection",
            "mora_tools.pipelines.video_connection:VideoConnectionTool",
            uses=("image_to_video",),
            agent_options=lambda profile: {"fps": profile.image_to_video.fps},
        ),
    )
}
"""Every role, in the order their tools are built (a role's ``uses`` come before it)."""

AGENT_ROLES: dict[str, type[StageAgent]] = {name: role.agent for name, role in ROLES.items()}
"""Role name -> agent class. A step's ``agent`` is a role name or its paper id (A1..A5)."""

ROLE_ALIASES: dict[str, str] = {role.paper_id: name for name, role in ROLES.items()}
