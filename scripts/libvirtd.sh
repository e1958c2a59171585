#!/usr/bin/env bash
# libvirtd.sh — starts and stops the libvirt daemons ix-deploy talks to, on hosts without systemd.
#
# Usage: sudo scripts/libvirtd.sh start|stop|status
#
# start: if a libvirtd already answers on qemu:///system it is left alone (someone else's: stop
#        will not touch it). Otherwise starts virtlogd and libvirtd as daemons (Debian 12 has no
#        virtqemud) and waits until qemu:///system answers (the first connection probes QEMU,
#        ~10 s). The PIDs of what it started go to /run/ix-deploy/daemons.pid. Where /dev/kvm is
#        root-only (no udev), it is given to group kvm, mode 0660, as Debian's udev rule does:
#        libvirt checks /dev/kvm as its QEMU user and, if it cannot open it while the capability
#        probe (run as root) could, probes QEMU again on every domain start (~70 s each here).
# stop:  stops exactly the daemons in that file (TERM, then KILL after 10 s) and removes it.
#        Domains still running stay running (QEMU outlives libvirtd): run `ix-deploy down` first.
# With systemd, `systemctl start libvirtd` does the same job; this script is for containers and
# CI machines like the project's, where nothing starts libvirtd.
set -euo pipefail

state_dir=/run/ix-deploy
pid_file=$state_dir/daemons.pid
uri=qemu:///system

answers() { timeout 60 virsh -q -c "$uri" version > /dev/null 2>&1; }

pid_alive() { [[ -n $1 ]] && kill -0 "$1" 2> /dev/null; }

start() {
  if answers; then
    if [[ -f $pid_file ]]; then echo "libvirtd.sh: already started by this script"; else
      echo "libvirtd.sh: a libvirtd is already running (not started here; stop will leave it)"; fi
    return 0
  fi
  command -v libvirtd > /dev/null || { echo "libvirtd.sh: no libvirtd (apt-get install libvirt-daemon-system)" >&2; exit 1; }
  mkdir -p "$state_dir"
  local started=()
  if ! pid_alive "$(cat /run/virtlogd.pid 2> /dev/null || true)"; then
    virtlogd -d
    for _ in $(seq 50); do [[ -s /run/virtlogd.pid ]] && break; sleep 0.1; done
    started+=("virtlogd:$(cat /run/virtlogd.pid)")
  fi
  libvirtd -d
  for _ in $(seq 50); do [[ -s /run/libvirtd.pid ]] && break; sleep 0.1; done
  started+=("libvirtd:$(cat /run/libvirtd.pid)")
  if [[ -c /dev/kvm && $(stat -c %G:%a /dev/kvm) == root:600 ]] && getent group kvm > /dev/null; then
    chgrp kvm /dev/kvm && chmod 0660 /dev/kvm && started+=("devkvm:root:600")
  fi
  printf '%s\n' "${started[@]}" > "$pid_file"
  for _ in $(seq 60); do
    if answers; then echo "libvirtd.sh: started ${started[*]}"; return 0; fi
    sleep 1
  done
  echo "libvirtd.sh: libvirtd started but $uri does not answer after 60 s" >&2
  exit 1
}

stop() {
  if [[ ! -f $pid_file ]]; then
    echo "libvirtd.sh: nothing started by this script"
    return 0
  fi
  local entry name pid
  # libvirtd first (it talks to virtlogd), in reverse order of starting.
  for entry in $(tac "$pid_file"); do
    name=${entry%%:*}
    pid=${entry#*:}
    if [[ $name == devkvm ]]; then  # put /dev/kvm back as it was
      chgrp "${pid%%:*}" /dev/kvm && chmod "${pid#*:}" /dev/kvm && echo "libvirtd.sh: /dev/kvm back to ${pid}"
      continue
    fi
    # Only a process that still is that daemon: a PID can be reused after a crash.
    if pid_alive "$pid" && [[ $(cat /proc/"$pid"/comm 2> /dev/null) == "$name" ]]; then
      kill -TERM "$pid"
      for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
      pid_alive "$pid" && kill -KILL "$pid"
      echo "libvirtd.sh: stopped $name ($pid)"
    fi
  done
  rm -f "$pid_file"
  rmdir "$state_dir" 2> /dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if answers; then echo "libvirtd.sh: $uri answers"; else echo "libvirtd.sh: $uri does not answer"; exit 1; fi ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
