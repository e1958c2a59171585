#!/bin/bash
# The libix example apps' command line: bad flags exit 2, an unreachable dataplane exits 1,
# --help exits 0 and lists the shared flags. No root or network needed.
#   app_flags_test.sh <app binary> <default port>
set -u
app="$1"
name=$(basename "$app")
fail=0
expect() {  # expect <status> <what> <args...>
  local want="$1" what="$2"
  shift 2
  out=$("$app" "$@" 2>&1 </dev/null)
  got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: $name $* exited $got, want $want: $out"
    fail=1
  else
    echo "ok: $what ($got)"
  fi
}
unset IX_IFACE IX_IP IX_SOCKET IX_MODE
expect 2 "unknown flag" --bogus
expect 2 "bad value" --port=abc
expect 2 "port out of range" --port=70000
expect 2 "bad mode" --mode=kernel
expect 2 "library mode without --iface/--ip" --mode=library
expect 2 "stray argument" --mode=ixd extra
expect 1 "no ixd at the socket" --mode=ixd --socket=/nonexistent/ixd.sock
help=$("$app" --help 2>&1)
for flag in --mode --iface --ip --socket --port; do
  if ! grep -q -- "$flag" <<<"$help"; then
    echo "FAIL: --help does not mention $flag"
    fail=1
  fi
done
if ! grep -q "default: $2;" <<<"$help"; then
  echo "FAIL: --help does not show the default port $2"
  fail=1
fi
exit $fail
