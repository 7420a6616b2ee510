"""The house's shape holds: every module imports, every package installs, files stay small, the CLI
stays thin, only `config/` reads the environment, and the README shows no missing image."""

from __future__ import annotations

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


def test_no_worker_file_over_350_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "worker").rglob("*.py") if (n := len(p.read_text().splitlines())) > 350}
    assert long == {}


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


def test_readme_images_exist():
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme)
    assert images, "the README shows the schedule and simulation charts"
    missing = [src for src in images if not src.startswith("http") and not (ROOT / src).is_file()]
    assert missing == []
