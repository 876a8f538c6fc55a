"""The SOP engine: the schema of task files and the runner that executes them."""

from mora_agents.sop._registry import find_sop, sop_dirs
from mora_agents.sop._runner import SopRunner
from mora_agents.sop._schema import (
    AGENT_ROLES,
    ROLE_ALIASES,
    InputSpec,
    Reference,
    ReviewSpec,
    SopSpec,
    StepSpec,
)

__all__ = [
    "AGENT_ROLES",
    "ROLE_ALIASES",
    "InputSpec",
    "Reference",
    "ReviewSpec",
    "SopRunner",
    "SopSpec",
    "StepSpec",
    "find_sop",
    "sop_dirs",
]
