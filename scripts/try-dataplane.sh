#!/usr/bin/env bash
# try-dataplane.sh — a first run of the ix dataplane, inside two network namespaces it creates and
# always removes: ixd owns one end of a veth pair, an application attached to it serves there, and
# Linux's own tools talk to it from the other namespace.
#
# Usage: sudo scripts/try-dataplane.sh [kv|echo] [--ix-run] [--library]
#   kv       ix-kv (memcached protocol) on ixd; a set/get with nc and a short memcslap run (default)
#   echo     ix-echo-app on ixd; a line echoed with nc and a sockperf ping-pong
#   --ix-run run the application inside the ix VMM (ix-run) as well
#   --library run the stack inside the application (library mode) instead of ixd
set -euo pipefail
cd "$(dirname "$0")/.."
app=kv ixrun=() mode=ixd
for arg in "$@"; do
  case "$arg" in
    kv|echo) app=$arg ;;
    --ix-run) ixrun=(build/tools/ix-run --) ;;
    --library) mode=library ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "try-dataplane.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
[[ $(id -u) == 0 ]] || { echo "try-dataplane.sh: needs root (namespaces, AF_XDP)" >&2; exit 1; }
[[ -x build/dataplane/ixd/ixd ]] || { echo "try-dataplane.sh: build first (scripts/setup.sh)" >&2; exit 1; }

ns_a=ixtry-$$-a ns_b=ixtry-$$-b if_a=ixtry$$a if_b=ixtry$$b sock=/tmp/ixtry-$$.sock
pids=()
cleanup() {
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do  # the application first, then ixd
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
  rm -f "$sock"
}
trap cleanup EXIT

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$if_a" type veth peer name "$if_b"
ip link set "$if_a" netns "$ns_a"
ip link set "$if_b" netns "$ns_b"
ip -n "$ns_a" link set "$if_a" up  # no Linux address: the ix stack owns 10.77.0.1
ip -n "$ns_b" link set "$if_b" up
ip -n "$ns_b" addr add 10.77.0.2/24 dev "$if_b"
# veth leaves TX checksums to "hardware"; the ix stack checks them, so the Linux peer computes them.
ip netns exec "$ns_b" ethtool -K "$if_b" tx off >/dev/null

if [[ $mode == ixd ]]; then
  ip netns exec "$ns_a" build/dataplane/ixd/ixd --iface="$if_a" --ip=10.77.0.1/24 --socket="$sock" &
  pids+=($!)
  for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.1; done
  where=(--mode=ixd --socket="$sock")
else
  where=(--mode=library --iface="$if_a" --ip=10.77.0.1/24)
fi
if [[ $app == kv ]]; then
  cmd=(build/examples/kv/ix-kv "${where[@]}") port=11211
else
  cmd=(build/examples/libix_echo/ix-echo-app "${where[@]}") port=7
fi
ready=$(mktemp)
ip netns exec "$ns_a" "${ixrun[@]}" "${cmd[@]}" > "$ready" &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$ready" && break; sleep 0.1; done
cat "$ready"
rm -f "$ready"

echo "--- from the Linux side ($ns_b, 10.77.0.2):"
if [[ $app == kv ]]; then
  printf 'set greeting 0 0 11\r\nhello, ix!\n\r\nget greeting\r\n' | ip netns exec "$ns_b" nc -q 1 10.77.0.1 $port
  ip netns exec "$ns_b" memcslap --servers=10.77.0.1:$port --concurrency=4 --execute-number=2000 2>&1 | tail -4
else
  echo "hello, ix!" | ip netns exec "$ns_b" nc -q 1 10.77.0.1 $port
  ip netns exec "$ns_b" sockperf ping-pong --tcp -i 10.77.0.1 -p $port -t 2 2>&1 | grep -E 'avg-latency|percentile 99.00 ' || true
fi
