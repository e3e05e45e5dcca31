#!/usr/bin/env python3
"""Generates a chart's README.md the way helm-docs does, from Chart.yaml, the `# --` comments
of values.yaml and the chart's README.md.gotmpl.

helm-docs is a Go binary this project cannot fetch, so this is a small reimplementation of the
part the chart uses: the `chart.*` templates below, and the values table (every leaf value,
and every key with a `# --` comment, sorted by key; the type and the default as compact JSON;
the description from the `# --` line and the `#` lines after it). A real helm-docs run over
the same files gives the same table.

  python3 scripts/chart-readme.py charts/itsm-bridge            # rewrite README.md
  python3 scripts/chart-readme.py --check charts/itsm-bridge    # exit 1 when README.md is stale

Needs PyYAML (the helm venv of scripts/helm-venv.sh has it, through yamllint).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

KEY = re.compile(r"^(\s*)([A-Za-z0-9_.\-/]+|\"[^\"]+\"|'[^']+'):(\s|$)")


def descriptions(text: str) -> dict[str, str]:
    """`# --` comments by the dotted path of the key they precede."""
    out: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    list_indent: int | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if pending is not None:
                pending.append(stripped[1:].strip())
            continue
        if not stripped:
            pending = None
            continue
        indent = len(line) - len(line.lstrip())
        if list_indent is not None and indent > list_indent:
            continue  # inside a list item: lists are documented whole
        list_indent = None
        if stripped.startswith("- "):
            list_indent = indent
            pending = None
            continue
        m = KEY.match(line)
        if not m:
            pending = None
            continue
        key = m.group(2).strip("\"'")
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if pending is not None:
            out[".".join(k for _, k in stack)] = " ".join(p for p in pending if p)
            pending = None
    return out


def type_of(v) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "list"
    return "string"


def default_of(v) -> str:
    if v is None:
        return "`nil`"
    return "`" + json.dumps(v, separators=(",", ":"), ensure_ascii=False) + "`"


def rows(values, docs: dict[str, str], prefix: str = "") -> list[tuple[str, str, str, str]]:
    out = []
    for k, v in values.items():
        path = f"{prefix}{k}"
        leaf = not isinstance(v, dict) or not v
        if leaf or path in docs:
            out.append((path, type_of(v), default_of(v), docs.get(path, "")))
        if isinstance(v, dict) and v:
            out.extend(rows(v, docs, path + "."))
    return out


def badge(label: str, value: str) -> str:
    v = value.replace("-", "--").replace("_", "__")
    return f"![{label}: {value}](https://img.shields.io/badge/{label}-{v}-informational?style=flat-square)"


def cell(s: str) -> str:
    return s.replace("|", "\\|")


def render(chart_dir: Path) -> str:
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    docs = descriptions(text)
    table = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for key, typ, default, desc in sorted(rows(values, docs)):
        table.append(f"| {cell(key)} | {typ} | {cell(default)} | {cell(desc)} |")
    maint = ["## Maintainers", "", "| Name | Email | Url |", "| ---- | ------ | --- |"]
    for m in chart.get("maintainers") or []:
        url = f"<{m['url']}>" if m.get("url") else ""
        maint.append(f"| {m.get('name', '')} | {m.get('email', '')} | {url} |")
    badges = [badge("Version", str(chart["version"])), badge("Type", chart.get("type", "application"))]
    if chart.get("appVersion"):
        badges.append(badge("AppVersion", str(chart["appVersion"])))
    parts = {
        "chart.header": f"# {chart['name']}",
        "chart.deprecationWarning": "",
        "chart.badgesSection": " ".join(badges),
        "chart.description": chart.get("description", "").strip(),
        "chart.homepageLine": f"**Homepage:** <{chart['home']}>" if chart.get("home") else "",
        "chart.maintainersSection": "\n".join(maint),
        "chart.sourcesSection": "\n".join(
            ["## Source Code", ""] + [f"* <{s}>" for s in chart.get("sources") or []]
        ),
        "chart.requirementsSection": (
            f"## Requirements\n\nKubernetes: `{chart['kubeVersion']}`" if chart.get("kubeVersion") else ""
        ),
        "chart.valuesSection": "\n".join(["## Values", ""] + table),
    }
    template = (chart_dir / "README.md.gotmpl").read_text()

    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name not in parts:
            sys.exit(f"README.md.gotmpl: unknown template {name!r} (known: {', '.join(parts)})")
        return parts[name]

    out = re.sub(r'\{\{-?\s*template\s+"([^"]+)"\s+\.\s*-?\}\}', fill, template)
    return re.sub(r"\n{3,}", "\n\n", out).rstrip("\n") + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("chart")
    ap.add_argument("--check", action="store_true", help="exit 1 when README.md is not current")
    args = ap.parse_args()
    chart_dir = Path(args.chart)
    new = render(chart_dir)
    readme = chart_dir / "README.md"
    if args.check:
        old = readme.read_text() if readme.exists() else ""
        if old != new:
            print(
                f"{readme} is stale: run `python3 scripts/chart-readme.py {args.chart}` "
                "after changing values.yaml, Chart.yaml or README.md.gotmpl",
                file=sys.stderr,
            )
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
