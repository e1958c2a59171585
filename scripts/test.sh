#!/usr/bin/env bash
# test.sh — the project's test command: runs every unit, KVM and network-namespace test with
# `meson test`, in as many legs as it takes for every KVM test to meet real hardware
# virtualization (VT-x/SVM) at least once:
#
#   native          everything on this machine (without a usable /dev/kvm: everything but the
#                   'kvm' suite, which then runs only in the test VM)
#   native-ring3    with hardware virtualization here: ix_run again with programs in guest ring 3
#   vm, vm-ring3    where /dev/kvm is missing or is kvm_pvm (guest ring 0 emulated): the 'kvm'
#                   suite inside the test VM (tests/vm/ixvm, QEMU with emulated SVM), with the
#                   default ring 0, then ix_run with programs in ring 3
#
# Each leg writes build/meson-logs/testlog[-LEG].json; build/meson-logs/legs.json says which legs
# ran, whether each had real hardware virtualization, and how each ended (.ci/run reads it).
#
# Usage: scripts/test.sh [--no-vm] [--vm] [MESON TEST ARGS...]
#   MESON TEST ARGS (e.g. --suite vmm) select tests for the native leg; the VM legs then run only
#   with --vm, over the same selection. --no-vm never starts the test VM.
set -uo pipefail
cd "$(dirname "$0")/.."

vm=auto
args=()
for a in "$@"; do
  case "$a" in
    --no-vm) vm=no ;;
    --vm) vm=yes ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done
[[ $vm == auto && ${#args[@]} -gt 0 ]] && vm=no

logs=build/meson-logs
mkdir -p "$logs"
rm -f "$logs"/testlog*.json "$logs"/legs.json

# What KVM is here: none, pvm (kvm_pvm: ring 0 emulated) or hardware.
kvm=none
if info=$(build/tools/ix-run --info 2> /dev/null); then
  if grep -q 'kvm_pvm' <<< "$info"; then kvm=pvm; else kvm=hardware; fi
fi

legs_json=()
overall=0
# leg NAME REAL_VIRT COMMAND... : runs one leg and records it.
leg() {
  local name=$1 real=$2
  shift 2
  echo "=== test.sh: leg '$name' (KVM here: $kvm): $*"
  "$@"
  local rc=$?
  echo "=== test.sh: leg '$name' exited $rc"
  local log=testlog.json
  [[ $name != native ]] && log=testlog-$name.json
  legs_json+=("{\"name\": \"$name\", \"log\": \"$log\", \"real_virt\": $real, \"rc\": $rc}")
  ((rc != 0)) && overall=1
}

meson_test=(meson test -C build --print-errorlogs --num-processes 2)
native_args=("${args[@]}")
if [[ $kvm == none && ${#args[@]} -eq 0 ]]; then
  native_args=(--no-suite kvm)
fi
leg native "$([[ $kvm == hardware ]] && echo true || echo false)" "${meson_test[@]}" "${native_args[@]}"

if [[ $kvm == hardware && ${#args[@]} -eq 0 ]]; then
  leg native-ring3 true env IX_TEST_RING=3 "${meson_test[@]}" --logbase testlog-native-ring3 ix_run hostile
fi

if [[ $vm == yes || ($vm == auto && $kvm != hardware) ]]; then
  vm_sel=("${args[@]}")
  [[ ${#vm_sel[@]} -eq 0 ]] && vm_sel=(--suite kvm)
  # Under TCG a hypercall costs ~1 ms: give each test five times its native time limit.
  vm_test=(meson test -C build --no-rebuild --print-errorlogs --num-processes 1 --timeout-multiplier 5)
  leg vm true tests/vm/ixvm run --timeout 2400 -- "${vm_test[@]}" --logbase testlog-vm "${vm_sel[@]}"
  leg vm-ring3 true tests/vm/ixvm run --timeout 1200 -- \
    env IX_TEST_RING=3 "${vm_test[@]}" --logbase testlog-vm-ring3 ix_run hostile
fi

(IFS=,; echo "[${legs_json[*]}]") > "$logs/legs.json"
echo "=== test.sh: legs run (KVM here: $kvm):"
/usr/bin/python3 - "$logs/legs.json" <<'PY'
import json, sys
for l in json.load(open(sys.argv[1])):
    print("    %-13s %-6s %s" % (l["name"], "passed" if l["rc"] == 0 else "FAILED",
                                "(real hardware virtualization)" if l["real_virt"] else ""))
PY
exit $overall
