"""The ``mora`` command line (typer): the terminal front end.

Every failure the user can fix prints one sentence and exits non-zero (2 for bad input, 130 when cancelled); heavy
libraries load only inside the commands that need them, so ``mora --help`` imports no torch. One module per command
group; :mod:`.options` declares the options shared by every command that makes a studio and turns them into its
configuration. A front end: it may import every layer beneath it, and nothing imports it.
"""

from mora_agents.cli.main import app, main

__all__ = ["app", "main"]
