#!/usr/bin/env python3
"""Offline `helm lint` / `helm template` / manifest validation for charts/itsm-bridge.

There is no helm binary and no cluster here, so this wraps the Helm v4 Go SDK embedded in
PyPI's helm-python-sdk (real Helm engine: same template functions, schema validation, `fail`)
and kubernetes-validate's bundled Kubernetes JSON schemas. Run it with the venv that
scripts/helm-venv.sh creates:

  target/helm-venv/bin/python scripts/helm_offline.py lint CHART [-f V.yaml] [--set k=v] [--set-file k=path]
  target/helm-venv/bin/python scripts/helm_offline.py template CHART [-f ..] [--set ..]
      [--release R] [--namespace N] [--validate] [-k 1.30.0 ...] [--output-dir DIR]

`lint` exits 1 on any finding of severity warning or error (that is `helm lint --strict`).
`template` prints the manifests as one multi-document YAML stream (like `helm template`),
exits 1 when rendering fails (schema violation, `fail`, template error) and, with
--validate, when a manifest does not match its Kubernetes schema under --strict (unknown
fields rejected). Kinds that are not in Kubernetes' schemas (CRDs such as the Prometheus
Operator's ServiceMonitor and PrometheusRule) are checked against the small schemas in
CRD_SCHEMAS below, and any other unknown kind is an error rather than a silent pass.
"""
from __future__ import annotations

import argparse
import os
import sys

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

_DURATION = {"type": "string", "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}


def _monitoring(kind: str, spec: dict) -> dict:
    """The schema of a monitoring.coreos.com/v1 object of `kind` whose spec is `spec`."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": {"type": "object", "required": ["name"]},
            "spec": spec,
        },
    }


CRD_SCHEMAS = {
    # The ServiceMonitor fields this chart writes, from monitoring.coreos.com/v1's CRD. Strict
    # (additionalProperties: false) so that a misspelt field fails as it would at apply time.
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _monitoring(
        "ServiceMonitor",
        {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "matchExpressions": {"type": "array"},
                    },
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array"},
                            "metricRelabelings": {"type": "array"},
                        },
                    },
                },
            },
        },
    ),
    # The PrometheusRule fields this chart writes, from monitoring.coreos.com/v1's CRD (rule
    # groups: name, interval, rules of record/alert, expr, for, labels, annotations). The
    # expressions themselves are checked by `promtool check rules` in tests/it/chart.rs.
    ("monitoring.coreos.com/v1", "PrometheusRule"): _monitoring(
        "PrometheusRule",
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "rules"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "interval": _DURATION,
                            "rules": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["expr"],
                                    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
                                    "additionalProperties": False,
                                    "properties": {
                                        "alert": {"type": "string"},
                                        "record": {"type": "string"},
                                        "expr": {"type": ["string", "integer"]},
                                        "for": _DURATION,
                                        "keep_firing_for": _DURATION,
                                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                                        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    ),
}


def merge(base: dict, over: dict) -> dict:
    """Helm's values precedence: maps merge key by key, anything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load_values(files: list[str], sets: list[str], set_files: list[str] = ()) -> dict:
    values: dict = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            values = merge(values, helm.values_from_yaml(fh.read()) or {})
    if sets:
        # Helm parses every --set into one map in order, so list indexes of separate --set
        # flags add up (`--set a[0].x=1 --set a[0].y=2`); one joined expression does the same.
        values = merge(values, helm.parse_set_string(",".join(sets)))
    for sf in set_files:
        values = merge(values, helm.parse_set_file(sf))
    return values


def cmd_lint(args: argparse.Namespace) -> int:
    report = helm.lint(
        args.chart,
        load_values(args.values, args.set, args.set_file),
        strict=True,
        namespace=args.namespace,
        kube_version=f"v{(args.kube_version or ['1.30.0'])[0].lstrip('v')}",
    )
    bad = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
    for m in report.get("messages", []):
        level = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(m.get("severity"), "UNKNOWN")
        print(f"[{level}] {m.get('path')}: {m.get('error', '').strip()}", file=sys.stderr)
    print(f"linted {report.get('total_charts_linted', 0)} chart(s), {len(bad)} failure(s)")
    return 1 if bad or report.get("errors") else 0


def validate_manifest(doc: dict, source: str, kube_version: str) -> str | None:
    """None when the manifest is valid, else the reason."""
    crd = CRD_SCHEMAS.get((doc.get("apiVersion"), doc.get("kind")))
    try:
        if crd is not None:
            jsonschema.validate(doc, crd)
        else:
            kubernetes_validate.validate(doc, kube_version, strict=True)
    except jsonschema.ValidationError as e:
        path = ".".join(str(p) for p in e.absolute_path)
        return f"{source}: {doc.get('kind')}: {path}: {e.message}"
    except kubernetes_validate.SchemaNotFoundError:
        return f"{source}: no schema for {doc.get('apiVersion')} {doc.get('kind')} (add one to CRD_SCHEMAS)"
    return None


def cmd_template(args: argparse.Namespace) -> int:
    chart = helm.Chart.load(args.chart)
    try:
        rendered = chart.render(
            load_values(args.values, args.set, args.set_file),
            name=args.release,
            namespace=args.namespace,
            is_install=True,
        )
    except helm.HelmError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    failures = []
    out = []
    for path in sorted(rendered):
        text = rendered[path]
        if path.endswith("NOTES.txt") or not text.strip():
            continue
        if args.output_dir:
            dest = os.path.join(args.output_dir, path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as fh:
                fh.write(text)
        out.append(f"---\n# Source: {path}\n{text.strip()}\n")
        if args.validate:
            for doc in yaml.safe_load_all(text):
                for version in args.kube_version or ["1.30.0"]:
                    problem = doc and validate_manifest(doc, path, version)
                    if problem:
                        failures.append(f"[{version}] {problem}")
    if not args.output_dir:
        sys.stdout.write("".join(out))
    for f in failures:
        print(f"INVALID {f}", file=sys.stderr)
    if args.validate:
        print(f"validated against Kubernetes {', '.join(args.kube_version or ['1.30.0'])} (strict): {len(failures)} failure(s)", file=sys.stderr)
    return 1 if failures else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("lint", "template"):
        s = sub.add_parser(name)
        s.add_argument("chart")
        s.add_argument("-f", "--values", action="append", default=[], help="values file (repeatable)")
        s.add_argument("--set", action="append", default=[], help="k=v,… as helm --set (repeatable)")
        s.add_argument("--set-file", action="append", default=[], help="k=path as helm --set-file (repeatable)")
        s.add_argument("--namespace", default="default")
        s.add_argument("-k", "--kube-version", action="append", default=[],
                       help="Kubernetes version (repeatable for template --validate) [1.30.0]")
        if name == "template":
            s.add_argument("--release", default="release-name")
            s.add_argument("--validate", action="store_true", help="kubernetes-validate --strict every manifest")
            s.add_argument("--output-dir", help="write each manifest under DIR/<chart>/templates/")
    args = p.parse_args()
    return cmd_lint(args) if args.cmd == "lint" else cmd_template(args)


if __name__ == "__main__":
    sys.exit(main())
