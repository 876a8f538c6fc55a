"""The folder layout is the architecture (docs/layout.md): front ends -> services -> conversation -> director ->
studio -> SOP engine -> agents -> tools -> store -> bottom. These tests read every import of mora's two packages
(inside functions too) and fail on each import circle, each import of a higher layer and each private name imported
from another package."""

from __future__ import annotations

from pathlib import Path

import pytest
from import_graph import ImportGraph

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mora_agents", "mora_tools")
# Lowest first; a module is in the layer of the longest prefix naming it. The package roots (they hold the version
# only) are below every layer.

LAYERS: list[tuple[str, ...]] = [
    # 0. Bottom: every message model, MoraError, the console, the process supervisor and its crash reports.
    (
        "mora_agents.messages",
        "mora_agents.errors",
        "mora_agents.resources",
        "mora_agents.console",
        "mora_agents.crash_report",
    ),
    # 1. Store: files that appear whole, media I/O and its one guarded reader, folder containment, run folders.
    (
        "mora_agents.atomic_files",
        "mora_agents.media",
        "mora_agents.media_guard",
        "mora_agents.containment",
        "mora_agents.workspace",
        "mora_agents.supervisor",
    ),
    # 2. Tools: the generative models, their loading, the embedded LLM; metrics beside evaluation.
    ("mora_tools", "mora_agents.llm", "mora_agents.evaluation"),
    # 3. Agents: each role calls one tool (on a cluster, as a Ray actor).
    ("mora_agents.agents", "mora_agents.cluster"),
    # 4. The SOP engine.
    ("mora_agents.sop",),
    # 5. The studio: the composition root (profile + LLM + reviewer -> agents -> SOP runner).
    ("mora_agents.studio",),
    # 6. The director: natural language to a VideoRequest or a clarifying question.
    ("mora_agents.director",),
    # 7. Conversation and session: a turn -> the director -> a run; the session folder.
    ("mora_agents.conversation", "mora_agents.session"),
    # 8. Services: jobs, sessions, uploads, the queue and its store, under the APIs and the web page.
    ("mora_agents.services",),
    # 9. Front ends.
    (
        "mora_agents.cli",
        "mora_agents.chat",
        "mora_agents.serve",
        "mora_agents.web",
        "mora_agents.doctor",
        "mora_agents.learning",
        "mora_agents.batch",
    ),
]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.read(ROOT, PACKAGES)


def test_no_import_circle(graph):
    circles = graph.circles()
    assert not circles, "modules that import each other:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_no_module_imports_a_higher_layer(graph):
    upward = graph.upward_imports(LAYERS)
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_no_private_name_is_imported_from_another_package(graph):
    private = graph.private_imports()
    assert not private, "private names imported across packages:\n" + "\n".join(private)


FRONT_ENDS = LAYERS[-1]
STARTS_OR_MOUNTS = {("mora_agents.serve.app", "mora_agents.web")}  # beside the CLI, which starts them all


def test_front_ends_meet_only_in_the_services(graph):
    """The terminal, the APIs and the web page share the services, not each other's internals."""

    def front_end(module: str) -> str | None:
        return next((p for p in FRONT_ENDS if module == p or module.startswith(p + ".")), None)

    crossing = [
        f"{importer} imports {module}"
        for importer, targets in sorted(graph.imports.items())
        for module in sorted(targets)
        if front_end(importer) not in (None, "mora_agents.cli", front_end(module))
        and front_end(module) is not None
        and (importer, front_end(module)) not in STARTS_OR_MOUNTS
    ]
    assert not crossing, "front ends reaching into each other:\n" + "\n".join(crossing)


def test_every_module_is_in_a_layer(graph):
    graph.upward_imports(LAYERS)  # raises LookupError naming a module no layer holds
    assert len(graph.modules) > 100


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_the_walk_finds_each_kind_of_fault(tmp_path):
    """The walker on a small tree with one fault of each kind, so the tests above can fail."""
    write(
        tmp_path,
        {
            "top/__init__.py": "",
            "top/low/__init__.py": "",
            "top/low/a.py": "def f():\n    from top.low import b\n",  # a circle through a lazy import
            "top/low/b.py": "import top.low.a\nfrom top.high import view\n",  # an upward import
            "top/low/_private.py": "X = 1\n",
            "top/low/c.py": "_hidden = 2\n",
            "top/high/__init__.py": "",
            "top/high/view.py": "from top.low._private import X\nfrom top.low.c import _hidden\n",
        },
    )
    graph = ImportGraph.read(tmp_path, ("top",))
    assert graph.circles() == [["top.low.a", "top.low.b"]]
    assert graph.upward_imports([("top.low",), ("top.high",)]) == [
        "top.low.b (layer 0) imports top.high.view (layer 1)"
    ]
    assert graph.private_imports() == [
        "top.high.view imports top.low._private.X",
        "top.high.view imports top.low.c._hidden",
    ]
    with pytest.raises(LookupError, match=r"top\.low\.\S+ is in no layer"):
        graph.upward_imports([("top.high",)])
