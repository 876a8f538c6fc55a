"""Where an OpenAI-compatible endpoint is, read from ``<PREFIX>_BASE_URL`` / ``_API_KEY`` / ``_TIMEOUT``.

The judge (``MORA_JUDGE_*``) and the captioner (``MORA_CAPTIONER_*``) are configured the same way; this is
that one way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from mora_agents.errors import MoraError


@dataclass(frozen=True)
class EndpointSettings:
    """How to reach one OpenAI-compatible endpoint."""

    base_url: str | None
    """``None``: OpenAI itself."""
    api_key: str | None
    timeout: float
    """Seconds one request may take."""


def endpoint_from_env(prefix: str, what: str, default_timeout: float) -> EndpointSettings:
    """Read ``<prefix>_BASE_URL``, ``<prefix>_API_KEY`` (else ``OPENAI_API_KEY``) and ``<prefix>_TIMEOUT``.

    Args:
        prefix: e.g. ``MORA_JUDGE``.
        what: names the user of the endpoint in error messages, e.g. ``openai judge``.
        default_timeout: seconds, when ``<prefix>_TIMEOUT`` is unset.

    Raises:
        MoraError: neither a base URL nor an OpenAI key, or a timeout that is not a number.
    """
    base_url_name, timeout_name = f"{prefix}_BASE_URL", f"{prefix}_TIMEOUT"
    base_url = os.environ.get(base_url_name) or None
    api_key = os.environ.get(f"{prefix}_API_KEY") or os.environ.get("OPENAI_API_KEY")
    if not base_url and not api_key:
        raise MoraError(f"the {what} needs {base_url_name} for a local server, or OPENAI_API_KEY for OpenAI")
    try:
        timeout = float(os.environ.get(timeout_name, str(default_timeout)))
    except ValueError:
        raise MoraError(f"{timeout_name} must be a number of seconds, got '{os.environ[timeout_name]}'") from None
    return EndpointSettings(base_url, api_key, timeout)
