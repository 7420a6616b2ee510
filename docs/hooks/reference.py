"""mkdocs hook: the reference pages, generated from the code before every build (`docs/reference/`, not committed).

- settings.md: every field of `Settings` with its variable, default and description (a field without a
  description fails the build; `tests/unit/test_docs.py` checks it too);
- cli.md: every `ramp` command with its help and options, from the typer app;
- keys.md: the Redis key layout, `config/keys.py`'s own table;
- metrics.md: every Prometheus metric name and help text, read from the modules that define them;
- openapi.md (and openapi.json): the HTTP API's own OpenAPI document;
- layout.md: the package layers, the README's table (the one `tests/unit/test_layout.py` checks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "reference"


class MissingDescription(Exception):
    pass


def settings_page() -> str:
    from pydantic_core import PydanticUndefined

    from ses_ramp.config import Settings

    rows = []
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise MissingDescription(f"Settings.{name} has no description")
        default: Any = field.default
        if default is PydanticUndefined:
            default = field.default_factory() if field.default_factory else "(required)"  # type: ignore[call-arg]
        shown = "(unset)" if default is None else f"`{json.dumps(default) if isinstance(default, dict | list) else default}`"
        if "secret" in name or "token" in name or "credentials" in name:
            shown = "(unset)" if default is None else "(set)"
        rows.append(f"| `RAMP_{name.upper()}` | {shown} | {field.description.replace('|', '&#124;')} |")
    return ("# Settings\n\nAll settings are environment variables (or a `.env` file), read once at the process edge into one "
            "`Settings` object. A missing or invalid value stops the process with one line naming the variable. This page is "
            "generated from `Settings`' fields.\n\n| variable | default | meaning |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def cli_page() -> str:
    import typer

    from ses_ramp.worker.cli import cli

    command = typer.main.get_command(cli)
    out = ["# The `ramp` command", "", "Generated from the typer app (`ramp COMMAND --help` says the same).", ""]

    def walk(cmd: Any, path: list[str]) -> None:
        if getattr(cmd, "commands", None):  # a group (typer's own click types: duck-typed)
            for name in sorted(cmd.commands):
                walk(cmd.commands[name], [*path, name])
            return
        out.append(f"## `{' '.join(path)}`")
        out.append("")
        out.append((cmd.help or "").strip().split("\n\n")[0])
        out.append("")
        params = [p for p in cmd.params if p.name != "help"]
        if params:
            out.append("| argument / option | help |")
            out.append("|---|---|")
            for p in params:
                is_option = getattr(p, "param_type_name", "") == "option"
                names = ", ".join(f"`{o}`" for o in (p.opts + p.secondary_opts)) if is_option else f"`{(p.name or '').upper()}`"
                text = (getattr(p, "help", None) or "").replace("|", "&#124;").replace("\n", " ")
                out.append(f"| {names} | {text} |")
            out.append("")

    walk(command, ["ramp"])
    return "\n".join(out) + "\n"


def keys_page() -> str:
    from ses_ramp.config import keys

    return "# Redis key layout\n\nGenerated from `config/keys.py`, the one helper every key name comes from.\n\n" + (keys.__doc__ or "") + "\n"


_METRIC = re.compile(r'\(\s*f?"(ses_ramp_[a-z_{}]+)",\s*f?"([^"]+)"')
_METRIC_FILES = ("worker/send/metrics.py", "worker/ops/exporter.py", "producers/http/app.py")


def metrics_page() -> str:
    rows = []
    for rel in _METRIC_FILES:
        for name, text in _METRIC.findall((ROOT / rel).read_text()):
            rows.append(f"| `{name}` | {text} | `{rel}` |")
    return ("# Metrics\n\nPrometheus metrics, generated from the modules that define them. A worker's main process serves "
            "them on `RAMP_METRICS_PORT`; `ramp serve` has its own `/metrics`. `{name}` parts are filled per metric.\n\n"
            "| metric | help | defined in |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def openapi_page() -> tuple[str, str]:
    from ses_ramp.config import Settings
    from ses_ramp.producers.http.app import create_app

    document = create_app(Settings(_env_file=None)).openapi()
    out = ["# HTTP API (OpenAPI)", "", "Generated from `ramp serve`'s own document: [openapi.json](openapi.json) (the same as "
           "`GET /openapi.json`). Every route but `/healthz`, `/metrics` and `/u/{token}` needs `Authorization: Bearer <token>`.", "",
           "| method | path | summary | answers |", "|---|---|---|---|"]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            answers = ", ".join(sorted(op.get("responses", {})))
            out.append(f"| {method.upper()} | `{path}` | {op.get('summary', '')} | {answers} |")
    return "\n".join(out) + "\n", json.dumps(document, indent=1)


def layout_page() -> str:
    readme = (ROOT / "README.md").read_text()
    table = [line for line in readme.splitlines() if line.startswith("| ")]
    start = next(i for i, line in enumerate(table) if line.startswith("| package |"))
    rows = [table[start]]
    for line in table[start + 1 :]:
        if not line.startswith("| `") and not line.startswith("|---"):
            break
        rows.append(line)
    rows.insert(1, "|---|---|---|") if not rows[1].startswith("|---") else None
    return ("# Package layout\n\nEach row is a layer, lowest first; it imports only from its own row and the rows above it "
            "(`tests/unit/test_layout.py` checks every import against the README's table, which this page copies).\n\n"
            + "\n".join(dict.fromkeys(rows)) + "\n")


def generate() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    api_md, api_json = openapi_page()
    pages = {"settings.md": settings_page(), "cli.md": cli_page(), "keys.md": keys_page(), "metrics.md": metrics_page(),
             "openapi.md": api_md, "openapi.json": api_json, "layout.md": layout_page()}
    for name, text in pages.items():
        path = OUT / name
        if not path.exists() or path.read_text() != text:  # unchanged pages keep their time: `mkdocs serve` does not loop
            path.write_text(text)


def on_pre_build(config: Any, **_: Any) -> None:
    generate()
