"""No import cycle inside vtt, at module or at subpackage level, lazy imports included.

The same logic as the project's conformance check (import_cycles.py): an edge for every
`import vtt.x` / `from vtt.x import y` / relative import anywhere in a module, a subpackage
edge for every module edge that crosses subpackages, then strongly connected components.
"""

import ast
import pathlib

import vtt

ROOT = pathlib.Path(vtt.__file__).resolve().parent
PKG = ROOT.name


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    mods = _modules()

    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges = {m: set() for m in mods}
    for m, f in mods.items():
        is_pkg = f.name == "__init__.py"
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = m.split(".") if is_pkg else m.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [base + "." + a.name for a in node.names] + [base]
            for t in targets:
                if t.split(".")[0] == PKG:
                    r = resolve(t)
                    if r and r != m and not m.startswith(r + "."):  # a submodule naming its own package is no edge
                        edges[m].add(r)
    return edges


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    def top(m):
        p = m.split(".")
        return ".".join(p[:2]) if len(p) > 1 else p[0]

    out: dict[str, set[str]] = {}
    for m, ts in edges.items():
        for t in ts:
            a, b = top(m), top(t)
            if a != b and a != PKG and b != PKG:
                out.setdefault(a, set()).add(b)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter[0]; counter[0] += 1; stack.append(root); on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]; counter[0] += 1; stack.append(w); on.add(w)
                    work.append((w, iter(graph.get(w, ()))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop(); on.discard(w); comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_level_import_cycle():
    edges = import_graph()
    assert len(edges) > 50 and edges["vtt.plan"]  # the graph is really built
    assert cycles(edges) == []


def test_no_package_level_import_cycle():
    assert cycles(package_graph(import_graph())) == []


def test_cost_is_pure():
    """vtt.cost imports only specs, units, errors and ggml types: no files, no calibrations, no plan."""
    allowed = {"vtt.specs", "vtt.units", "vtt.errors", "vtt.ggml_types", "vtt.cost"}
    assert package_graph(import_graph()).get("vtt.cost", set()) <= allowed


def test_readme_dependency_list_matches_the_code():
    """README "How it works": every package imports only packages listed on lines above it."""
    readme = (ROOT.parents[1] / "README.md").read_text()
    block = readme.split("Module dependencies:", 1)[1].split("```")[1]
    order, allowed = [], {}
    for line in block.strip().splitlines():
        names, arrow, rest = line.partition("->")
        names, deps = (names, rest.strip().split("  ")[0]) if arrow else (line.split("  ")[0], "")
        for name in (n.strip() for n in names.split(",")):
            order.append(name)
            allowed[name] = {d.strip() for d in deps.split(",") if d.strip()} if "(any" not in deps else None
    graph = package_graph(import_graph())
    for pkg, deps in graph.items():
        name = pkg.removeprefix("vtt.")
        assert name in allowed, f"{name} is missing from the README's dependency list"
        real = {d.removeprefix("vtt.") for d in deps}
        if allowed[name] is None:
            continue
        assert real <= allowed[name], f"{name} imports {sorted(real - allowed[name])}, not in the README"
        above = set(order[: order.index(name)])
        assert allowed[name] <= above, f"{name} lists {sorted(allowed[name] - above)} below it"
