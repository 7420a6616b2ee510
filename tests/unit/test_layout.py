"""The house's shape holds: every module imports, every package installs, files stay small, the CLI
stays thin, only `config/` reads the environment, and the README shows no missing image."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"config": "ses_ramp.config", "producers": "ses_ramp.producers", "worker": "ses_ramp.worker"}


def _package_dirs() -> dict[str, Path]:
    out = {}
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            out[".".join([name, *rel.parts])] = init.parent
    return out


def test_every_package_folder_is_installed():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    assert set(_package_dirs()) == listed


def _modules() -> list[str]:
    names = []
    for package in FOLDERS.values():
        names.append(package)
        mod = importlib.import_module(package)
        names += [m.name for m in pkgutil.walk_packages(mod.__path__, prefix=f"{package}.")
                  if not m.name.endswith(".__main__")]
    return names


@pytest.mark.parametrize("name", _modules())
def test_every_module_imports(name):
    importlib.import_module(name)


def test_the_walk_found_every_source_file():
    found = set(_modules())
    on_disk = set()
    for package, directory in _package_dirs().items():
        on_disk |= {f"{package}.{p.stem}" for p in directory.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    assert on_disk <= found


def test_no_source_file_over_350_lines():
    long = {str(p.relative_to(ROOT)): n for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 350}
    assert long == {}


# -- layers: every import, function-level ones included, points down the README's order ----------------

def readme_layers(readme: str) -> list[str]:
    """The layout table's packages, lowest first, as module prefixes: `worker/lua/` -> ses_ramp.worker.lua."""
    table = readme.split("| package | what lives there | may import |", 1)[1].split("\n\n", 1)[0]
    layers = []
    for row in table.splitlines()[2:]:
        folder = re.match(r"\| `([a-z_/]+)/`", row)
        assert folder, f"a layout row without its package: {row[:60]}"
        layers.append("ses_ramp." + folder.group(1).replace("/", "."))
    return layers


def layer_of(module: str, layers: list[str]) -> int | None:
    """Index of the longest layer prefix holding `module`; the entry point `python -m ses_ramp.worker`
    belongs with the CLI it starts."""
    if module == "ses_ramp.worker.__main__":
        module = "ses_ramp.worker.cli"
    best = None
    for i, prefix in enumerate(layers):
        if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(layers[best])):
            best = i
    return best


def import_edges(root: Path) -> list[tuple[str, str, str]]:
    """(importer, imported module, file:line) for every `ses_ramp` import in the three folders, read with
    ast from every scope: module level, functions, `if TYPE_CHECKING` blocks."""
    edges = []
    for folder in FOLDERS:
        for path in (root / folder).rglob("*.py"):
            rel = path.relative_to(root).with_suffix("")
            parts = list(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
            me = ".".join(["ses_ramp", *parts])
            for node in ast.walk(ast.parse(path.read_text())):
                targets: list[str] = []
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ses_ramp"):
                    # `from pkg import name`: the module `pkg.name` when it is one, else `pkg`
                    targets = [f"{node.module}.{a.name}" if _is_module(root, f"{node.module}.{a.name}") else node.module
                               for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names if a.name.startswith("ses_ramp")]
                edges += [(me, t, f"{path.relative_to(root)}:{node.lineno}") for t in targets if t != me]
    return edges


def _is_module(root: Path, name: str) -> bool:
    base = root / Path(*name.split(".")[1:])
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def upward_imports(root: Path, layers: list[str]) -> list[str]:
    out = []
    for me, target, where in import_edges(root):
        mine, theirs = layer_of(me, layers), layer_of(target, layers)
        if mine is None or theirs is None:
            out.append(f"{where}: {me} or {target} is in no layer of the README's table")
        elif theirs > mine:
            out.append(f"{where}: {me} imports {target}, which is above it")
    return out


def module_cycles(root: Path) -> list[list[str]]:
    """Strongly connected groups of modules (more than one) in the import graph."""
    graph: dict[str, set[str]] = {}
    for me, target, _ in import_edges(root):
        graph.setdefault(me, set()).add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_import_points_down_the_readme_layers():
    layers = readme_layers((ROOT / "README.md").read_text())
    assert layers[:2] == ["ses_ramp.config", "ses_ramp.producers"] and "ses_ramp.worker.cli" in layers
    assert upward_imports(ROOT, layers) == []


def test_no_module_import_cycle():
    assert module_cycles(ROOT) == []


def test_the_layer_check_catches_an_upward_import_even_inside_a_function(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "producers").mkdir()
    (tmp_path / "worker").mkdir()
    (tmp_path / "config" / "__init__.py").write_text("")
    (tmp_path / "config" / "low.py").write_text("def f():\n    from ses_ramp.producers.high import g\n    return g\n")
    (tmp_path / "producers" / "__init__.py").write_text("")
    (tmp_path / "producers" / "high.py").write_text("from ses_ramp.config import low\n\ndef g():\n    return low\n")
    (tmp_path / "worker" / "__init__.py").write_text("")
    layers = ["ses_ramp.config", "ses_ramp.producers", "ses_ramp.worker"]
    assert upward_imports(tmp_path, layers) == [
        "config/low.py:2: ses_ramp.config.low imports ses_ramp.producers.high, which is above it"]
    assert module_cycles(tmp_path) == [["ses_ramp.config.low", "ses_ramp.producers.high"]]


def test_cli_holds_no_redis_keys_and_no_lua():
    """CLI commands parse, call plain code and render: no key layout, no scripts, no raw Redis calls."""
    pattern = re.compile(r"\.keys\.|\bKeys\(|\.scripts\b|\.lua\b|\.client\.|\bhset\b|\bhget\b|\bsadd\b|\blpop\b")
    hits = [f"{p.name}:{i}: {line.strip()}" for p in (ROOT / "worker" / "cli").glob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


_ENV_READ = re.compile(r"os\.environ\.get|os\.getenv|getenv\(|in os\.environ|\*\*os\.environ|os\.environ\[[^\]]+\](?!\s*=)|os\.environ\.items|getpass\.getuser")


def test_only_config_reads_the_environment():
    hits = [f"{p.relative_to(ROOT)}:{i}" for folder in ("worker", "producers") for p in (ROOT / folder).rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if _ENV_READ.search(line)]
    assert hits == []


def test_readme_and_docs_images_exist():
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme)
    assert images, "the README shows the dashboard and the simulation chart"
    missing = [src for src in images if not src.startswith("http") and not (ROOT / src).is_file()]
    for page in (ROOT / "docs").rglob("*.md"):
        missing += [f"{page}: {src}" for src in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text())
                    if not src.startswith("http") and not (page.parent / src).is_file()]
    assert missing == []
