"""The ``mora`` application: every command group registered in the order ``mora --help`` lists them, and the
console-script entry point."""

from __future__ import annotations

import sys

import typer

from mora_agents import __version__
from mora_agents.cli.batch import batch
from mora_agents.cli.doctor import doctor
from mora_agents.cli.evaluate import eval_app
from mora_agents.cli.generate import generate, route
from mora_agents.cli.models import models_app
from mora_agents.cli.serve import serve
from mora_agents.cli.sessions import chat, run_session
from mora_agents.cli.sop import sop_app
from mora_agents.console import out
from mora_agents.learning.commands import learn_app

app = typer.Typer(
    name="mora",
    help="A multi-agent video studio after the Mora paper: describe a video, agents make it, you review.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.command()(generate)
app.add_typer(sop_app, name="sop")
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(learn_app, name="learn")
app.command("run")(run_session)
app.command()(chat)
app.command()(route)
app.command()(doctor)
app.command()(serve)
app.command()(batch)


@app.command()
def version() -> None:
    """Print mora's version."""
    out.print(__version__)


def main() -> None:
    """Console-script entry point: model-loading commands run as a supervised child (:mod:`mora_agents.supervisor`),
    so a crash in native code ends in one sentence and a run marked ``failed``, not a silent exit."""
    from mora_agents import crash_report, supervisor

    if supervisor.wants_supervision(sys.argv[1:]):
        sys.exit(supervisor.supervise_cli(sys.argv[1:]))
    crash_report.enable()
    sys.exit(app(prog_name="mora"))
