#!/usr/bin/env bash
# Creates (or reuses) the Python venv that holds an embedded Helm engine and the Kubernetes
# schemas, for offline chart lint/render/validation (scripts/helm_offline.py, tests/it/chart.rs).
#
#   helm-python-sdk 0.2.2    Helm v4 Go SDK behind a C ABI (lint, load, render), no helm binary
#   kubernetes-validate 1.37  bundled Kubernetes JSON schemas 1.25-1.37 (--strict)
#   yamllint 1.38             chart-testing's YAML lint (charts/ct-lintconf.yaml); its PyYAML
#                             also serves scripts/chart-readme.py
#
# Idempotent: when the venv already has both pinned versions it returns at once. Safe to run
# from several processes: a lock serialises creation. Exit code 0 = ready, non-zero = could
# not install (e.g. no network and no wheel cache); the caller decides whether to skip.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HELM_VENV:-$ROOT/target/helm-venv}"
PY="${PYTHON:-python3}"
PINS=("helm-python-sdk==0.2.2" "kubernetes-validate==1.37.0" "yamllint==1.38.0")
STAMP="$VENV/.itsm-bridge-pins"

ready() {
  [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${PINS[*]}" ]]
}

ready && exit 0

mkdir -p "$(dirname "$VENV")"
exec 9>"$VENV.lock"
flock 9
ready && exit 0   # another process finished it while we waited

rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"
# Smoke test: the shared library loads and the schemas are there.
"$VENV/bin/python" -c 'import helm_python, kubernetes_validate, yamllint; helm_python.helm_sdk_version()'
echo "${PINS[*]}" > "$STAMP"
