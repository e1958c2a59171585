#!/usr/bin/env bash
# test.sh — the project's test command: runs every unit, KVM and network-namespace test with
# `meson test`. Extra arguments go to meson test (e.g. a suite: scripts/test.sh --suite vmm).
set -euo pipefail
cd "$(dirname "$0")/.."
exec meson test -C build --print-errorlogs --num-processes 2 "$@"
