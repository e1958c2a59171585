#!/usr/bin/env bash
# setup.sh — installs every build and test dependency from Debian 12's packages, then builds ix
# with Meson and Ninja into ./build. Safe to run again: apt-get and meson are idempotent.
#
# Usage: scripts/setup.sh [--no-install] [--buildtype=debugoptimized|release|debug]
set -euo pipefail

install=1
buildtype=debugoptimized
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    --buildtype=*) buildtype=${arg#--buildtype=} ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# Build tools and libraries, then the real peers the integration tests and benchmarks talk to.
packages=(
  build-essential meson ninja-build pkg-config
  libabsl-dev libgtest-dev libgmock-dev googletest nlohmann-json3-dev
  libxdp-dev libbpf-dev libelf-dev zlib1g-dev
  iproute2 iputils-ping procps strace
  python3 sqlite3 gzip coreutils
  socat curl sockperf memcached libmemcached-tools python3-pymemcache rsync
  netcat-openbsd hping3 ethtool clang libclang-rt-14-dev python3-matplotlib
  qemu-system-x86 busybox-static kmod cpio   # the test VM (tests/vm/ixvm)
  libvirt-dev libvirt-daemon-system libvirt-clients dnsmasq-base   # ix-deploy (scripts/libvirtd.sh starts the daemons)
  linux-headers-amd64   # sys_*() prototypes: the VMM's syscall argument counts (gen_syscall_table.py)
)

if [[ $install == 1 ]]; then
  if [[ $(id -u) != 0 ]]; then
    echo "setup.sh: installing packages needs root (or run with --no-install)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

cd "$(dirname "$0")/.."
if [[ -d build ]]; then
  meson setup --reconfigure build --buildtype="$buildtype"
else
  meson setup build --buildtype="$buildtype"
fi
ninja -C build
# The test VM's kernel (a Debian linux-image package, unpacked, never installed) and initramfs.
if [[ $install == 1 ]]; then
  tests/vm/ixvm image
fi
echo "setup.sh: built into $(pwd)/build"
