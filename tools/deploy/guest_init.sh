#!/bin/sh
# guest_init.sh: /init of an ix-deploy guest (busybox initramfs built by ix-deploy-image).
# Loads virtio, brings up the virtio-net NIC without a Linux address, starts ixd on it (AF_XDP;
# generic XDP where the driver refuses native), then the application attached to ixd, then
# ix-deploy-agent, which answers the host's stats (with ixd's live counters from its stats socket)
# and logs requests on the virtio-serial port org.ix.stats. Kernel arguments: ix.iface=IF ix.ip=A.B.C.D/len ix.gw=A.B.C.D. Logs go to
# /var/log/{ixd,app}.log and are copied to the serial console. It never exits (it is PID 1):
# the host powers the guest off with `ix-deploy down`.
export PATH=/bin:/sbin
LD_LIBRARY_PATH=$(cat /etc/ix-deploy/ld_library_path)
export LD_LIBRARY_PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/shm /sys/fs/bpf /run/ix
mount -t tmpfs shm /dev/shm
mount -t bpf bpf /sys/fs/bpf 2> /dev/null

log() { echo "ix-guest: $*" > /dev/ttyS0; }

iface=eth0 ip=10.0.2.15/24 gw=10.0.2.2
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ix.iface=*) iface=${arg#ix.iface=} ;;
    ix.ip=*) ip=${arg#ix.ip=} ;;
    ix.gw=*) gw=${arg#ix.gw=} ;;
  esac
done

while read -r mod; do
  insmod "/modules/$mod" 2> /dev/null || log "insmod $mod failed"
done < /modules/order

ip link set lo up
for _ in $(seq 100); do [ -e "/sys/class/net/$iface" ] && break; sleep 0.1; done
ip link set "$iface" up || log "no interface $iface"
echo "$iface $ip $gw" > /run/ix/net

# ixd owns the interface: Linux gets no address on it, so it never answers for ixd's. Its stats
# socket is where ix-deploy-agent reads ixd's live counters (kIxdStatsSocket, guest_report.h).
ixd --iface="$iface" --ip="$ip" --gateway="$gw" --socket=/run/ix/ixd.sock \
  --stats_socket=/run/ix/ixd.sock.stats > /var/log/ixd.log 2>&1 &
echo $! > /run/ix/ixd.pid
for _ in $(seq 300); do [ -S /run/ix/ixd.sock ] && break; sleep 0.1; done
[ -S /run/ix/ixd.sock ] || log "ixd did not open its socket: $(cat /var/log/ixd.log)"

set --
while IFS= read -r a; do set -- "$@" "$a"; done < /etc/ix-deploy/app.args
IX_MODE=ixd IX_SOCKET=/run/ix/ixd.sock ix-app "$@" > /var/log/app.log 2>&1 &
echo $! > /run/ix/app.pid

ix-deploy-agent > /var/log/agent.log 2>&1 &
tail -F /var/log/ixd.log /var/log/app.log /var/log/agent.log > /dev/ttyS0 2>&1 &
log "started ixd ($(cat /run/ix/ixd.pid)) and $(cat /etc/ix-deploy/app.name) ($(cat /run/ix/app.pid)) on $iface $ip"

# PID 1 reaps orphans forever.
while true; do
  wait
  sleep 1
done
