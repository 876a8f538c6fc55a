"""The documentation cannot rot: the site under docs/ builds with ``mkdocs build --strict`` (a link to a missing
page or anchor, or a page left out of mkdocs.yml, fails the build), every relative link of the README points at a
file that exists, and the README's set-up and test commands are the ones CI runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""An inline Markdown link or image: ``[text](target)``, ``[text](<target> "title")``."""
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
"""``https:``, ``mailto:``, ...: a scheme, so not a file of this checkout."""


def relative_links(markdown: str) -> list[str]:
    """The link targets of ``markdown`` that name a file of the checkout (code blocks and spans are not links)."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [target for target in targets if not EXTERNAL.match(target) and not target.startswith("#")]


def test_the_docs_build_with_mkdocs_strict(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )

    assert result.returncode == 0, f"mkdocs build --strict failed:\n{result.stdout}{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()


def test_every_relative_link_of_the_readme_points_at_a_file():
    links = relative_links(README.read_text(encoding="utf-8"))

    assert links, "the README links to no page of docs/"
    missing = [link for link in links if not (ROOT / unquote(link.split("#", 1)[0])).exists()]
    assert not missing, f"README.md links to files that do not exist: {', '.join(missing)}"


def test_the_link_finder_sees_links_and_skips_code_and_urls():
    markdown = (
        "See [Set up](docs/setup.md#why) and ![a](img/a.png).\n"
        "`[not](a-link.md)` and [web](https://example.org) and [here](#top)\n"
        "```\n[in code](code.md)\n```\n"
    )

    assert relative_links(markdown) == ["docs/setup.md#why", "img/a.png"]


def test_the_readme_shows_the_commands_ci_runs():
    readme = README.read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()

    # One set-up script for newcomers and CI; CI's test command is the README's.
    assert "bash scripts/setup.sh" in readme and "bash scripts/setup.sh" in ci
    assert "python -m pytest" in readme and ci[-1] == "python -m pytest"
    assert "mora generate text-to-video" in readme and "--profile tiny" in readme
