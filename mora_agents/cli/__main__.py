"""``python -m mora_agents.cli``: the ``mora`` command (the supervisor starts its children this way)."""

from mora_agents.cli.main import main

main()
