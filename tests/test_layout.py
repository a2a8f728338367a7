"""No import circle inside the package.

Every ``ntkfast/**/*.py`` is parsed with ``ast`` (nothing is imported), and every import of an
ntkfast module is an edge of a module graph, wherever it stands: top level, or inside a
function (a lazy import is still a dependency, only a hidden one).  Counted: ``import
ntkfast.x``, ``from ntkfast.x import y``, relative ``from . import x`` / ``from .x import y`` /
``from .. import y``, and ``importlib.import_module`` / ``__import__`` calls on a string literal.

How an import becomes an edge:

- ``from P import name`` goes to ``P.name`` when that is a module (``.py``, package, or
  compiled ``.pyx``), else to ``P`` itself (the import needs ``P``'s namespace);
- a package is its ``__init__.py``: ``ntkfast`` importing ``ntkfast.features`` is the normal
  way down.  A submodule does not depend on its parent package by being inside it (the parent
  object exists as soon as its ``__init__`` starts), but it does when it takes a name from
  the package's namespace (``from . import __version__``): that edge closes a circle only if
  the package imports the submodule, directly or through others, and then it is a real one
  (the import works or fails with the order of lines in ``__init__.py``), so it is reported.

Compiled modules are nodes without outgoing edges (``.pyx`` files are not Python source).
"""
import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = "ntkfast"


def _package_dir():
    # Where ``import ntkfast`` would load from, found without executing the package; else the
    # source tree next to this file.  Independent of the working directory.
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.origin:
        return Path(spec.origin).resolve().parent
    return Path(__file__).resolve().parent.parent / PACKAGE


def _modules(root):
    """{dotted module name: path of its Python source or None (compiled)} under ``root``."""
    mods = {}
    for path in sorted(root.rglob("*.py")) + sorted(root.rglob("*.pyx")):
        rel = path.relative_to(root.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods.setdefault(".".join(parts), path if path.suffix == ".py" else None)
    return mods


def _imports(module, path, modules):
    """[(target module, line)] for every import of a module of ``modules`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    package = module if is_pkg else module.rpartition(".")[0]
    top = next(iter(modules)).split(".")[0]

    def absolute(name, level):
        if level == 0:
            return name
        base = package.split(".")
        if level > 1:
            base = base[: -(level - 1)]
        return ".".join(base + ([name] if name else []))

    def inside(name):
        return name == top or name.startswith(top + ".")

    def owner(name):
        # The longest known module that is ``name`` or contains it (``a.b.c`` -> ``a.b``).
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if inside(alias.name):
                    edges.append((owner(alias.name), node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node.module or "", node.level)
            if not inside(base):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                edges.append((sub if sub in modules else owner(base), node.lineno))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if fname in ("import_module", "__import__"):
                target = node.args[0].value
                if target.startswith("."):
                    level = len(target) - len(target.lstrip("."))
                    # relative to the calling module's package (package=__package__)
                    target = absolute(target[level:], level)
                if inside(target):
                    edges.append((owner(target), node.lineno))
    return [(t, line) for t, line in edges if t is not None and t != module]


def import_graph(root):
    """{module: {imported module: first line}} for the package rooted at ``root``."""
    modules = _modules(root)
    graph = {m: {} for m in modules}
    for module, path in modules.items():
        if path is None:
            continue
        for target, line in _imports(module, path, modules):
            graph[module].setdefault(target, line)
    return graph


def find_cycles(graph, limit=50):
    """Every elementary cycle (a list of modules, first == last), up to ``limit``: each is
    found once, from its smallest module, through larger ones only (the package graphs are
    small enough for this plain search)."""
    cycles = []

    def walk(start, path):
        for w in sorted(graph[path[-1]]):
            if w == start:
                cycles.append(path + [start])
            elif w > start and w not in path and len(cycles) < limit:
                walk(start, path + [w])

    for start in sorted(graph):
        walk(start, [start])
    return cycles[:limit]


def _describe(graph, root, cycle):
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        path = _modules(root)[a]
        steps.append(f"  {a} -> {b}   ({path.relative_to(root.parent)}:{graph[a][b]})")
    return "\n".join(steps)


def test_no_import_cycle_in_the_package():
    root = _package_dir()
    graph = import_graph(root)
    assert f"{PACKAGE}.features" in graph[PACKAGE], "the graph lost the package's own imports"
    cycles = find_cycles(graph)
    report = "\n\n".join(" -> ".join(c) + "\n" + _describe(graph, root, c) for c in cycles)
    print(report)
    assert not cycles, "import cycle(s) inside the package:\n" + report


SYNTHETIC = {
    "__init__.py": "from .a import f\nfrom . import b\n__version__ = '1'\n",
    "a.py": "import os\nfrom .sub import deep\n",
    "b.py": "def g():\n    from .a import f\n    import importlib\n    importlib.import_module('pkg.c')\n",
    "c.py": "from . import __version__\nfrom .sub.deep import h\n",
    "sub/__init__.py": "from .. import a as _a\n",
    "sub/deep.py": "from ..b import g\nimport pkg.sub\n",
}


def _write(tmp_path, files):
    for name, text in files.items():
        path = tmp_path / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (tmp_path / "pkg" / "_compiled.pyx").write_text("")
    return tmp_path / "pkg"


def test_every_kind_of_import_is_an_edge(tmp_path):
    graph = import_graph(_write(tmp_path, SYNTHETIC))
    assert {m: set(t) for m, t in graph.items()} == {
        "pkg": {"pkg.a", "pkg.b"},
        "pkg.a": {"pkg.sub.deep"},                # a submodule by name: not pkg.sub
        "pkg.b": {"pkg.a", "pkg.c"},              # lazy, and through importlib
        "pkg.c": {"pkg", "pkg.sub.deep"},         # __version__ is a name of the package
        "pkg.sub": {"pkg.a"},                     # from .. import a
        "pkg.sub.deep": {"pkg.b", "pkg.sub"},
        "pkg._compiled": set(),
    }
    assert sorted(find_cycles(graph)) == [
        ["pkg", "pkg.a", "pkg.sub.deep", "pkg.b", "pkg.c", "pkg"],
        ["pkg", "pkg.b", "pkg.c", "pkg"],
        ["pkg.a", "pkg.sub.deep", "pkg.b", "pkg.a"],
        ["pkg.a", "pkg.sub.deep", "pkg.sub", "pkg.a"],
        ["pkg.b", "pkg.c", "pkg.sub.deep", "pkg.b"],
    ]


@pytest.mark.parametrize("files, circular", [
    ({"__init__.py": "from . import a\n", "a.py": "x = 1\n"}, False),
    # a submodule reading the package's namespace while the package imports it: a real circle
    ({"__init__.py": "from . import a\n", "a.py": "from . import x\n"}, True),
    # ... but not when the package does not import it (a CLI reading __version__)
    ({"__init__.py": "x = 1\n", "a.py": "from . import x\n"}, False),
    ({"__init__.py": "", "a.py": "def f():\n    from .b import g\n", "b.py": "from .a import f\n"}, True),
])
def test_cycle_rule_for_the_package_itself(tmp_path, files, circular):
    assert bool(find_cycles(import_graph(_write(tmp_path, files)))) == circular
