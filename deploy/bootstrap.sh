#!/usr/bin/env bash
# Sets up everything ioc needs on a fresh Debian machine (Python 3.11, root), then runs one job:
#   bash deploy/bootstrap.sh demo   -> the demo city: local stack, cameras, processors, sink, live counts
#   bash deploy/bootstrap.sh test   -> the whole test suite against the real services
# Idempotent and fast when already set up: the venv is rebuilt only when pyproject.toml changes.
set -euo pipefail
cd "$(dirname "$0")/.."
job="${1:-}"; shift || true

say() { printf '\033[1m[ioc]\033[0m %s\n' "$*" >&2; }

ensure_venv() {
  local stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
  if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
  fi
  if [ ! -f "$stamp" ]; then
    say "installing ioc and its dependencies into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[test,reports]"
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

ensure_debian_packages() {
  # What the tests and the demo use beyond Python: the recorded camera (opencv-doc's vtest.avi).
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

case "$job" in
  demo)
    ensure_venv
    ensure_debian_packages opencv-doc
    .venv/bin/ioc stack up
    exec .venv/bin/ioc demo "$@"
    ;;
  test)
    ensure_venv
    ensure_debian_packages opencv-doc prometheus
    .venv/bin/ioc stack up
    set +e
    .venv/bin/python -m pytest "$@"
    status=$?
    set -e
    if [ "$status" -eq 5 ]; then
      say "pytest collected no tests: that is a failure here"
      exit 1
    fi
    exit "$status"
    ;;
  *)
    echo "usage: bash deploy/bootstrap.sh demo|test [args...]" >&2
    exit 2
    ;;
esac
