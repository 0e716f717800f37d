"""Print how the apps import each other, counting imports inside functions too.

    python tools/import_graph.py            # app graph, two-way pairs, file cycles
    python tools/import_graph.py --sizes    # also every app module over 400 lines

tests/test_layers.py runs the same reading against the layers in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first: an app may import only apps to its left, never one to its right or beside it
# in the same tuple.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),
    ("accounts",),
    ("systems",),
    ("rollbacks",),
    ("incidents",),
    ("monitoring",),
    ("groundtruth", "gate", "comms", "telemetry"),
    ("response", "metrics"),
    ("config",),
)
APPS = tuple(app for layer in LAYERS for app in layer)
MAX_MODULE_LINES = 400


def app_files() -> dict[str, Path]:
    """Every first-party module of app code (tests, bench and sdk are not app code)."""
    files = {}
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    drop = node.level - 1 if is_package else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def module_imports() -> dict[str, set[str]]:
    """module -> the first-party modules it imports, wherever the import statement is."""
    files = app_files()
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        targets: set[str] = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, node, is_package)
                names = [f"{base}.{alias.name}" for alias in node.names]
                names = [name if name in known else base for name in names]
            for name in names:
                while name and name not in known:
                    name = name.rpartition(".")[0]
                if name and name != module and name.split(".")[0] in APPS:
                    targets.add(name)
        graph[module] = targets
    return graph


def app_edges(graph: dict[str, set[str]]) -> Counter[tuple[str, str]]:
    edges: Counter[tuple[str, str]] = Counter()
    for source, targets in graph.items():
        for target in targets:
            pair = (source.split(".")[0], target.split(".")[0])
            if pair[0] != pair[1]:
                edges[pair] += 1
    return edges


def layer_of(app: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if app in layer)


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import of an app in the same layer or above the importer's."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            a, b = source.split(".")[0], target.split(".")[0]
            if a != b and layer_of(b) >= layer_of(a):
                found.append(f"{source} imports {target}")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def long_modules() -> list[tuple[str, int]]:
    sizes = []
    for module, path in app_files().items():
        if ".migrations." in f"{module}.":
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            sizes.append((module, lines))
    return sorted(sizes, key=lambda item: -item[1])


def main(argv: list[str]) -> int:
    graph = module_imports()
    edges = app_edges(graph)
    print(f"app imports ({sum(edges.values())} module-to-module imports across apps):")
    for (a, b), n in sorted(edges.items()):
        print(f"  {a:12} -> {b:12} {n:3}")
    two_way = sorted({tuple(sorted(pair)) for pair in edges if pair[::-1] in edges})
    print(f"two-way app pairs: {len(two_way)}", *(f"{a}-{b}" for a, b in two_way))
    groups = cycles(graph)
    print(f"file cycles: {len(groups)}")
    for group in groups:
        print("  " + " <-> ".join(group))
    violations = layer_violations(graph)
    print(f"layer violations: {len(violations)}")
    for line in violations:
        print("  " + line)
    if "--sizes" in argv:
        modules = long_modules()
        print(f"app modules over {MAX_MODULE_LINES} lines: {len(modules)}")
        for module, lines in modules:
            print(f"  {lines:5} {module}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
