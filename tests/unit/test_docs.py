"""The README and the documentation site stay true: the two commands, CI running the same test command, every
setting described in the generated reference, and the site building strictly."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ses_ramp.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands_and_ci_runs_the_same_one():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert "demo: $(BIN)/.installed\n\t$(BIN)/ramp demo" in makefile
    assert "test: $(BIN)/.installed\n\t$(BIN)/python -m pytest" in makefile
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()


def _reference():
    spec = importlib.util.spec_from_file_location("docs_reference", ROOT / "docs" / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_description_and_a_row_in_the_generated_reference():
    undescribed = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert undescribed == []
    page = _reference().settings_page()
    assert [f"RAMP_{name.upper()}" for name in Settings.model_fields if f"| `RAMP_{name.upper()}` |" not in page] == []


def test_a_setting_without_a_description_fails_the_reference(monkeypatch):
    reference = _reference()
    field = Settings.model_fields["serve_port"]
    monkeypatch.setattr(field, "description", None)
    with pytest.raises(reference.MissingDescription, match="serve_port"):
        reference.settings_page()


def test_the_documentation_site_builds_strictly(tmp_path):
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / "reference" / "settings" / "index.html").is_file()
    assert "\nmake site\n" in (ROOT / ".ci" / "run").read_text()  # CI builds it too
