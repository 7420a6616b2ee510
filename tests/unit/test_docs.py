"""The README stays true: its two commands, its settings table, and CI running the same test command."""

from pathlib import Path

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


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [f"RAMP_{name.upper()}" for name in Settings.model_fields if f"`RAMP_{name.upper()}`" not in readme]
    assert missing == []
