"""The SOP engine: the schema of task files, their binding language, where they are found, the runner.

This layer imports the agents (their roles and message types) and the media and workspace base beneath them; the
studio, the director and every layer above import it, through the names exported here only.
"""

from mora_agents.sop._bindings import Binding, BindingError, Condition, Reference
from mora_agents.sop._registry import SopEntry, find_sop, list_sops, sop_dirs
from mora_agents.sop._runner import (
    EventSink,
    SopRunner,
    describe_output,
    finished_stages,
    reopen_stage,
    roles_used,
)
from mora_agents.sop._schema import (
    AGENT_ROLES,
    ROLE_ALIASES,
    SUMMARY_FIELD,
    InputSpec,
    ReviewSpec,
    SopSpec,
    StepSpec,
    role_of,
)
from mora_agents.sop._values import MediaFormat

__all__ = [
    "AGENT_ROLES",
    "ROLE_ALIASES",
    "Binding",
    "BindingError",
    "Condition",
    "EventSink",
    "InputSpec",
    "MediaFormat",
    "Reference",
    "ReviewSpec",
    "SUMMARY_FIELD",
    "SopEntry",
    "SopRunner",
    "SopSpec",
    "StepSpec",
    "describe_output",
    "find_sop",
    "finished_stages",
    "list_sops",
    "reopen_stage",
    "role_of",
    "roles_used",
    "sop_dirs",
]
