#!/bin/sh
# Runs the stack fuzzer for a bounded time; fails on a crash (libFuzzer exits non-zero and leaves
# the input as <build>/fuzz-artifacts/crash-*).
# usage: run_fuzz.sh FUZZER SECONDS libfuzzer|driver BUILD_DIR
set -u
fuzzer=$1; seconds=$2; mode=$3; build=$4
if [ "$mode" = driver ]; then
  exec "$fuzzer" -max_total_time="$seconds"
fi
corpus=$(mktemp -d /tmp/ix-stack-fuzz-corpus.XXXXXX)
trap 'rm -rf "$corpus"' EXIT INT TERM
mkdir -p "$build/fuzz-artifacts"
"$fuzzer" -max_total_time="$seconds" -error_exitcode=1 -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
  -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/" "$corpus"
