"""The SOP engine: the schema of task files, their binding language, where they are found, the runner."""

from mora_agents.sop._bindings import Binding, BindingError, Condition, Reference
from mora_agents.sop._registry import SopEntry, find_sop, list_sops, sop_dirs
from mora_agents.sop._runner import SopRunner
from mora_agents.sop._schema import (
    AGENT_ROLES,
    ROLE_ALIASES,
    InputSpec,
    ReviewSpec,
    SopSpec,
    StepSpec,
    role_of,
)

__all__ = [
    "AGENT_ROLES",
    "ROLE_ALIASES",
    "Binding",
    "BindingError",
    "Condition",
    "InputSpec",
    "Reference",
    "ReviewSpec",
    "SopEntry",
    "SopRunner",
    "SopSpec",
    "StepSpec",
    "find_sop",
    "list_sops",
    "role_of",
    "sop_dirs",
]
