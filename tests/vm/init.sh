#!/bin/sh
# init.sh: /init of the ix test VM's initramfs (busybox). Loads virtio, 9p and KVM, mounts the
# host's root filesystem read-write over 9p, runs the command the host left in RUNDIR (kernel
# argument ixvm.run=RUNDIR, a path on the host) chrooted there, writes its exit status to RUNDIR/rc
# and powers off. Whatever happens, the VM powers off: the host side also enforces a time limit.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

rundir=
tmpbind=
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    ixvm.run=*) rundir=${arg#ixvm.run=} ;;
    ixvm.tmpbind=*) tmpbind=$(echo "${arg#ixvm.tmpbind=}" | tr , ' ') ;;
  esac
done

fail() {
  echo "ixvm-init: $*" > /dev/ttyS0
  poweroff -f
}

# Modules in dependency order (written by `ixvm image`). The guest CPU is always QEMU's EPYC model
# (TCG emulates SVM, not VMX), so kvm_amd is the vendor module on every host.
while read -r mod; do
  insmod "/modules/$mod" 2> /dev/null || echo "ixvm-init: insmod $mod failed" > /dev/ttyS0
done < /modules/order

mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,access=any hostroot /host \
  || fail "cannot mount the host root over 9p"
[ -n "$rundir" ] && [ -r "/host$rundir/cmd.sh" ] || fail "no command in ixvm.run=$rundir"

# /tmp is the VM's own tmpfs (9p cannot ftruncate or fstat a file once it is unlinked, as
# mkstemp users do), except the host directories under /tmp that the command lives in
# (ixvm.tmpbind), bound back in.
mkdir -p /hosttmp
mount --bind /host/tmp /hosttmp
mount -t tmpfs -o mode=1777 tmp /host/tmp
for d in $tmpbind; do
  mkdir -p "/host/tmp/$d"
  mount --bind "/hosttmp/$d" "/host/tmp/$d"
done

# The guest's own kernel interfaces inside the chroot; /run and /dev/shm private to the VM (ixd's
# socket and POSIX shared memory must not land on the host's filesystem).
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts devpts /host/dev/pts
mount -t tmpfs shm /host/dev/shm
mount -t tmpfs run /host/run
mount -t bpf bpf /host/sys/fs/bpf 2> /dev/null
mount -t tracefs tracefs /host/sys/kernel/tracing 2> /dev/null
ip link set lo up 2> /dev/null || /bin/busybox ip link set lo up

chroot /host /bin/sh "$rundir/cmd.sh" < /dev/null > "/host$rundir/stdout" 2> "/host$rundir/stderr"
echo $? > "/host$rundir/rc"
sync
poweroff -f
