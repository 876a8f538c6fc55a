"""mora's import graph, read from the source with ``ast`` (nothing is imported): who imports whom, and the three
things the layout forbids: an import circle, an import of a higher layer, a private name imported from another package.

Every import counts, including those inside functions: a lazy import is still a dependency a reader must follow.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportGraph:
    """Modules under some top-level packages of ``root``, and the imports between them."""

    root: Path
    modules: dict[str, Path] = field(default_factory=dict)
    imports: dict[str, set[str]] = field(default_factory=dict)
    names: list[tuple[str, str, str | None]] = field(default_factory=list)  # (importer, module, imported name)

    @classmethod
    def read(cls, root: Path, packages: tuple[str, ...]) -> ImportGraph:
        graph = cls(root)
        for package in packages:
            for path in sorted((root / package).rglob("*.py")):
                parts = list(path.relative_to(root).with_suffix("").parts)
                graph.modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        for module, path in graph.modules.items():
            graph.imports[module] = set()
            for target, name in _imported(ast.parse(path.read_text(), str(path))):
                found = graph.nearest(target)
                if found is not None and found != module:
                    graph.imports[module].add(found)
                    graph.names.append((module, found, None if found == target else name))
        return graph

    def nearest(self, dotted: str) -> str | None:
        """The module of ours that ``dotted`` names, or the nearest package above it; None when not ours."""
        while dotted not in self.modules:
            if "." not in dotted:
                return None
            dotted = dotted.rsplit(".", 1)[0]
        return dotted

    def package(self, module: str) -> str:
        return module if self.modules[module].name == "__init__.py" else module.rsplit(".", 1)[0]

    def circles(self) -> list[list[str]]:
        """Each set of modules that import each other, directly or through others (strongly connected components)."""
        return [sorted(c) for c in _components(self.imports) if len(c) > 1]

    def private_imports(self) -> list[str]:
        """``from a._b import c`` or ``from a.b import _c`` where ``a`` is another package than the importer's."""
        found = []
        for importer, module, name in self.names:
            if self.package(importer) == self.package(module):
                continue
            private_module = self.modules[module].stem.startswith("_") and self.modules[module].stem != "__init__"
            if private_module or (name is not None and name.startswith("_") and not name.startswith("__")):
                found.append(f"{importer} imports {module}{'.' + name if name else ''}")
        return found

    def upward_imports(self, layers: list[tuple[str, ...]]) -> list[str]:
        """Imports of a module in a higher layer than the importer's; ``layers`` lists prefixes, lowest layer first."""

        def rank(module: str) -> int:
            if "." not in module:
                return -1  # a package root
            matches = [(len(p), i) for i, prefixes in enumerate(layers) for p in prefixes if _under(module, p)]
            if not matches:
                raise LookupError(f"{module} is in no layer: add it to the layer map")
            return max(matches)[1]

        return [
            f"{importer} (layer {rank(importer)}) imports {module} (layer {rank(module)})"
            for importer, targets in sorted(self.imports.items())
            for module in sorted(targets)
            if rank(module) > rank(importer)
        ]


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _imported(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` imports module a.b.c when there is one, else the name c of a.b.
            yield from ((f"{node.module}.{alias.name}", alias.name) for alias in node.names)


def _components(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components, iterative (the graph is a few hundred modules deep at most)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
