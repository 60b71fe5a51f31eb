#!/usr/bin/env bash
# Tests of the integrations whose pinned dependencies cannot share one environment with
# the rest of textgym's extras, each in its own virtual environment (.venv-NAME):
#   openenv    openenv 0.10 needs mcp<2 (through fastmcp); textgym[mcp] needs mcp>=2.3
#   verifiers  verifiers 0.4 pins mcp==2.0.0 and openai<3
# Usage: bash scripts/isolated_tests.sh [NAME ...]   (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(openenv verifiers)
fi
for name in "${names[@]}"; do
  case "$name" in
    openenv|verifiers) ;;
    *) echo "isolated_tests.sh: unknown integration '$name' (openenv | verifiers)" >&2; exit 2 ;;
  esac
  venv=".venv-$name"
  echo "== $name: installing textgym[dev,$name] into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".[dev,$name]"
  echo "== $name: tests"
  # TEXTGYM_ISOLATED makes a missing integration an error there, not a skip.
  TEXTGYM_ISOLATED="$name" "$venv/bin/python" -m pytest -q tests/integrations/test_"$name"*.py
done
