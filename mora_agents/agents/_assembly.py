"""Builds the agents of a run, one per role, their tools loaded through a
:class:`~mora_tools.loading.memory.ModelMemory`.

The studio builds every role a run needs here; on Ray (:mod:`mora_agents.cluster`) each role's actor builds its
own one role the same way, so a stage runs the same code on either engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mora_agents.agents._roles import ROLES, AgentRole
from mora_agents.agents._stage_agent import StageAgent
from mora_agents.workspace import Workspace
from mora_tools.loading.memory import ModelMemory
from mora_tools.pipelines.progress import ProgressSink


@dataclass(frozen=True)
class ToolOptions:
    """How the tools load: the parts of a studio's configuration a role's tool needs."""

    device: str | None = None
    """Torch device (``cuda``, ``mps``, ``cpu``); ``None``: the best found."""
    adapters: str | None = None
    """A ``mora learn train`` run folder: its adapters go to the roles it trained."""
    llm: str | None = None
    """The prompt enhancer's backend (``embedded``, ``openai``); ``None``: from the environment."""


def roles_to_build(needed: Iterable[str]) -> list[AgentRole]:
    """The roles whose tools ``needed`` loads, in build order: A5's ``a4_blend`` animates with A4's tool."""
    needed = set(needed)
    return [
        role
        for role in ROLES.values()
        if role.tool is not None and (role.name in needed or any(role.name in ROLES[n].uses for n in needed))
    ]


def make_agents(
    needed: Iterable[str],
    profile,
    options: ToolOptions,
    workspace: Workspace,
    progress: ProgressSink,
    seed: int,
    memory: ModelMemory,
) -> dict[str, StageAgent]:
    """One agent per role in ``needed``; generative models load through ``memory`` on first use."""
    needed = set(needed)
    tools: dict[str, object] = {}
    agents: dict[str, StageAgent] = {}
    if "prompt_enhancer" in needed:
        agents["prompt_enhancer"] = prompt_enhancer(options, seed, memory, progress)
    for role in roles_to_build(needed):
        tools[role.name] = managed_tool(role, profile, options, memory, tools)
        if role.name in needed:
            agents[role.name] = role.agent(
                role.agent_name, tools[role.name], workspace, progress=progress, **role.agent_options(profile)
            )
    return agents


def managed_tool(role: AgentRole, profile, options: ToolOptions, memory: ModelMemory, built: dict):
    """The role's tool through ``memory``: built (and its models loaded) on first use, shared by key."""
    # Keys name the profile too: one session may switch profiles between turns. A tool with a training run's
    # adapters applied is another tool: its key names them.
    adapters = options.adapters if role.adapted else None
    key = f"{profile.name}/{role.name}" + (f"+adapters:{adapters}" if adapters else "")
    tool_options: dict = {"adapters": adapters} if role.adapted else {}
    if role.uses:
        tool_options["animator"] = built[role.uses[0]]  # A5's a4_blend animates with A4's tool

    def factory():
        return role.tool_class().from_profile(profile, options.device, **tool_options)

    return memory.tool(key, factory, getattr(profile, role.profile_field))


def prompt_enhancer(options: ToolOptions, seed: int, memory: ModelMemory, progress: ProgressSink) -> StageAgent:
    """A1 on the configured LLM, loaded through ``memory`` (a missing backend fails here, before any stage)."""
    from mora_agents.llm import create_llm, managed_client

    role = ROLES["prompt_enhancer"]
    # Greedy decoding (temperature 0) makes the seed irrelevant, so one loaded LLM serves every seed.
    key = f"llm/{options.llm or 'default'}"

    def load_llm():
        return memory.acquire(key, lambda: create_llm(options.llm, seed=seed))

    return role.agent.from_backend(
        role.agent_name, load_llm(), client=managed_client(lambda: load_llm().client), progress=progress
    )
