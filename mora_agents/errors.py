"""The one error type a user sees.

Every failure caused by input (a wrong path, a broken SOP file, missing weights, garbage from an LLM)
is raised as a :class:`MoraError` whose message is one sentence naming what and where; the CLI prints
that sentence and exits with :attr:`MoraError.exit_code`, never with a traceback.
"""


class MoraError(Exception):
    """A failure the user can fix; its message is one sentence that says what, where, and what to do."""

    exit_code: int = 2


class ModelUnavailableError(MoraError):
    """A model named by a profile is neither on disk nor downloadable."""


class ReviewError(MoraError):
    """A review decision could not be obtained or is not allowed at this stage."""


class CancelledError(MoraError):
    """The user cancelled a running stage."""

    exit_code = 130
