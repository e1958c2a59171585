#!/bin/bash
# Integration test: real memcached clients against ix-kv-linux on a loopback port.
#   kv_clients_test.sh <path to ix-kv-linux> <examples/kv source dir>
# Skips (exit 77) when the client tools are not installed. Debian's libmemcached-tools
# names the tools memccp/memccat/memcslap/memcaslap/memccapable; other distributions call them
# memcp/memcat/memslap/memaslap/memcapable.
set -u
server="$1"
srcdir="$2"
# The python3 on PATH may be a pyenv shim without Debian's modules: use the system one.
py=/usr/bin/python3
if [ ! -x "$py" ] || ! "$py" -c 'import pymemcache' 2>/dev/null; then
  echo "SKIP: /usr/bin/python3 with pymemcache (python3-pymemcache) not found"
  exit 77
fi
for tool in cp cat slap aslap capable; do
  if ! command -v "memc$tool" >/dev/null && ! command -v "mem$tool" >/dev/null; then
    echo "SKIP: memc$tool / mem$tool (libmemcached-tools) not found"
    exit 77
  fi
done
exec "$py" "$srcdir/kv_clients_test.py" "$server"
