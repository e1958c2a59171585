// Guest CPU state (see cpu.h).
#include "vmm/cpu.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstring>

#include "vmm/cpu_features.h"
#include "vmm/kvm_abi.h"
#include "vmm/raw_syscall.h"

extern "C" void ix_guest_syscall_entry();
extern "C" const uint64_t ix_guest_exception_stubs[32];

namespace ix::vmm {
namespace {

struct [[gnu::packed]] Tss64 {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
};
static_assert(sizeof(Tss64) == 104);

struct [[gnu::packed]] IdtEntry {
  uint16_t offset0, selector;
  uint8_t ist, type;
  uint16_t offset1;
  uint32_t offset2, reserved;
};
static_assert(sizeof(IdtEntry) == 16);

constexpr uint64_t kCr0 = 0x80050033;  // PE MP ET NE WP AM PG
constexpr uint64_t kCr4 = 0x106a0;     // PAE PGE OSFXSR OSXMMEXCPT FSGSBASE
constexpr uint64_t kEfer = 0xd01;      // SCE LME LMA NXE
constexpr uint64_t kSfmask = 0x47700;  // TF DF IF IOPL NT AC, as Linux

void Segment(kvm_segment* s, uint16_t sel, uint8_t type, uint8_t dpl, bool l, bool db) {
  memset(s, 0, sizeof(*s));
  s->limit = 0xffffffff;
  s->selector = sel;
  s->type = type;
  s->present = 1;
  s->dpl = dpl;
  s->db = db;
  s->s = 1;
  s->l = l;
  s->g = 1;
}

long VcpuIoctl(int fd, unsigned long req, const void* arg) {
  return RawSyscall(SYS_ioctl, fd, req, reinterpret_cast<long>(arg));
}

}  // namespace

int CreateVcpu(Vmm* vmm, VcpuThread* t) {
  long fd = RawSyscall(SYS_ioctl, vmm->vm_fd, KVM_CREATE_VCPU, t->index);
  if (fd < 0) return static_cast<int>(fd);
  // Keep VMM descriptors out of the range programs use (they are protected from close anyway).
  long hi = RawSyscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 800);
  if (hi >= 0) {
    RawSyscall(SYS_close, fd);
    fd = hi;
  }
  uint64_t run_hva = ThreadBlockBase(t) + kRunOffset;
  long m = RawSyscall6(SYS_mmap, run_hva, vmm->run_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, fd, 0);
  if (m < 0) {
    RawSyscall(SYS_close, fd);
    return static_cast<int>(m);
  }
  CpuidBuffer cpuid_buf;
  CpuidBuffer* cpuid = &cpuid_buf;
  cpuid->nent = vmm->ncpuid;
  cpuid->padding = 0;
  memcpy(cpuid->entries, vmm->cpuid, vmm->ncpuid * sizeof(kvm_cpuid_entry2));
  for (int i = 0; i < vmm->ncpuid; ++i) {
    kvm_cpuid_entry2& e = cpuid->entries[i];
    if (e.function == 1) e.ebx = (e.ebx & 0x00ffffff) | (t->index << 24);
  }
  long r = VcpuIoctl(fd, kIoctlSetCpuid2, cpuid);
  if (r < 0) {
    RawSyscall(SYS_close, fd);
    return static_cast<int>(r);
  }
  // The guest's TSC is the host's: the program's vDSO (clock_gettime without a syscall) scales
  // the TSC against the host kernel's timekeeping. KVM gives a new VM a TSC offset that starts it
  // near 0 on VT-x/SVM; the vDSO then sees the TSC behind its last update and returns the last
  // tick's time (4 ms steps). kvm_pvm runs the guest on the host TSC already.
  uint64_t offset = 0;
  kvm_device_attr tsc{0, KVM_VCPU_TSC_CTRL, KVM_VCPU_TSC_OFFSET, reinterpret_cast<uint64_t>(&offset)};
  if (VcpuIoctl(fd, KVM_HAS_DEVICE_ATTR, &tsc) == 0) {
    r = VcpuIoctl(fd, KVM_SET_DEVICE_ATTR, &tsc);
    if (r < 0) {
      RawSyscall(SYS_close, fd);
      return static_cast<int>(r);
    }
  }
  t->vcpu_fd = static_cast<int>(fd);
  t->run = reinterpret_cast<kvm_run*>(run_hva);
  t->run->kvm_valid_regs = KVM_SYNC_X86_REGS | (vmm->syscall_enters_cpl0 ? KVM_SYNC_X86_SREGS : 0);
  return 0;
}

namespace {

void BuildGdtAndTss(Vmm* vmm, VcpuThread* t) {
  uint64_t block = ThreadBlockBase(t);
  auto* gdt = reinterpret_cast<uint64_t*>(block + kGdtOffset);
  auto* tss = reinterpret_cast<Tss64*>(block + kTssOffset);
  memset(tss, 0, sizeof(*tss));
  uint64_t ist_top_gva = vmm->as.PrivateGva(block + kIstTop);
  tss->rsp[0] = ist_top_gva;
  tss->ist[0] = ist_top_gva;
  tss->iomap_base = sizeof(Tss64);
  uint64_t tss_gva = vmm->as.PrivateGva(block + kTssOffset);
  gdt[0] = 0;
  gdt[1] = 0x00cf9b000000ffffull;  // 0x08 32-bit kernel code
  gdt[2] = 0x00af9b000000ffffull;  // 0x10 kernel code
  gdt[3] = 0x00cf93000000ffffull;  // 0x18 kernel data
  gdt[4] = 0x00cffb000000ffffull;  // 0x20 user 32-bit code
  gdt[5] = 0x00cff3000000ffffull;  // 0x28 user data
  gdt[6] = 0x00affb000000ffffull;  // 0x30 user code
  uint64_t limit = sizeof(Tss64) - 1;
  gdt[7] = (limit & 0xffff) | ((tss_gva & 0xffffff) << 16) | (0x8bull << 40) |
           (((tss_gva >> 24) & 0xff) << 56);  // 0x38 busy 64-bit TSS
  gdt[8] = tss_gva >> 32;
}

}  // namespace

void BuildIdt(Vmm* vmm) {
  auto* idt = reinterpret_cast<IdtEntry*>(vmm->base + kIdtOffset);
  memset(idt, 0, 4096);
  for (int v = 0; v < 32; ++v) {
    uint64_t h = ix_guest_exception_stubs[v];
    // int3 and into are allowed from ring 3 (DPL 3) so that they arrive as #BP/#OF, as on Linux.
    uint8_t dpl = (v == 3 || v == 4) ? 3 : 0;
    idt[v] = {static_cast<uint16_t>(h & 0xffff), kSelKernelCode, 1,
              static_cast<uint8_t>(0x8e | (dpl << 5)), static_cast<uint16_t>((h >> 16) & 0xffff),
              static_cast<uint32_t>(h >> 32), 0};
  }
}

void SetRingSegments(kvm_sregs* s, int ring) {
  if (ring == 0) {
    Segment(&s->cs, kSelKernelCode, 11, 0, true, false);
    Segment(&s->ss, kSelKernelData, 3, 0, false, true);
  } else {
    Segment(&s->cs, kSelUserCode, 11, 3, true, false);
    Segment(&s->ss, kSelUserData, 3, 3, false, true);
  }
  uint64_t fs = s->fs.base, gs = s->gs.base;
  s->ds = s->es = s->fs = s->gs = s->ss;
  s->fs.base = fs;
  s->gs.base = gs;
}

void ReturnToUserSegments(kvm_run* run) {
  kvm_sregs& s = run->s.regs.sregs;
  if (s.cs.selector != kSelKernelCode) return;  // a fresh vCPU (fork, clone) or already ring 3
  Segment(&s.cs, kSelUserCode, 11, 3, true, false);
  Segment(&s.ss, kSelUserData, 3, 3, false, true);
  run->kvm_dirty_regs |= KVM_SYNC_X86_SREGS;
}

void BuildSregsTemplate(Vmm* vmm, const kvm_sregs& reset_state) {
  kvm_sregs s = reset_state;
  s.fs.base = s.gs.base = 0;
  SetRingSegments(&s, vmm->opts.ring);
  memset(&s.tr, 0, sizeof(s.tr));
  s.tr.selector = kSelTss;
  s.tr.limit = sizeof(Tss64) - 1;
  s.tr.type = 11;
  s.tr.present = 1;
  memset(&s.ldt, 0, sizeof(s.ldt));
  s.ldt.unusable = 1;
  s.ldt.type = 2;
  s.ldt.present = 1;
  s.gdt.limit = 9 * 8 - 1;
  s.idt.base = vmm->as.PrivateGva(vmm->base + kIdtOffset);
  s.idt.limit = 32 * sizeof(IdtEntry) - 1;
  s.cr0 = kCr0;
  s.cr3 = vmm->as.cr3();
  s.cr4 = kCr4 | (vmm->osxsave ? kCr4Osxsave : 0);
  s.efer = kEfer;
  vmm->sregs_template = s;
}

int InitVcpu(Vmm* vmm, VcpuThread* t, const kvm_regs& regs, uint64_t fs_base, uint64_t gs_base) {
  if (t->vcpu_fd < 0) {
    int r = CreateVcpu(vmm, t);
    if (r < 0) return r;
  }
  BuildGdtAndTss(vmm, t);
  kvm_sregs s = vmm->sregs_template;
  uint64_t block = ThreadBlockBase(t);
  s.gdt.base = vmm->as.PrivateGva(block + kGdtOffset);
  s.tr.base = vmm->as.PrivateGva(block + kTssOffset);
  s.fs.base = fs_base;
  s.gs.base = gs_base;
  long r = VcpuIoctl(t->vcpu_fd, KVM_SET_SREGS, &s);
  if (r < 0) return static_cast<int>(r);
  MsrBuffer msr_buf{};
  MsrBuffer* msrs = &msr_buf;
  const uint64_t entry = reinterpret_cast<uint64_t>(&ix_guest_syscall_entry);
  const std::pair<uint32_t, uint64_t> values[5] = {
      {kMsrStar, (uint64_t{kSelUserCode32} << 48) | (uint64_t{kSelKernelCode} << 32)},
      {kMsrLstar, entry},
      {kMsrCstar, entry},
      {kMsrSfmask, kSfmask},
      {kMsrKernelGsBase, 0}};
  msrs->nmsrs = 5;
  for (int i = 0; i < 5; ++i) {
    msrs->entries[i].index = values[i].first;
    msrs->entries[i].data = values[i].second;
  }
  r = VcpuIoctl(t->vcpu_fd, kIoctlSetMsrs, msrs);
  if (r != 5) return r < 0 ? static_cast<int>(r) : -EINVAL;
  if (vmm->osxsave) {
    // After KVM_SET_SREGS: KVM refuses an XCR0 beyond x87 while CR4.OSXSAVE is clear.
    kvm_xcrs xcrs{};
    xcrs.nr_xcrs = 1;
    xcrs.xcrs[0] = {0, 0, vmm->guest_xcr0};
    r = VcpuIoctl(t->vcpu_fd, KVM_SET_XCRS, &xcrs);
    if (r < 0) return static_cast<int>(r);
  }
  r = VcpuIoctl(t->vcpu_fd, KVM_SET_REGS, &regs);
  return r < 0 ? static_cast<int>(r) : 0;
}

int CopyFpuState(int from_fd, int to_fd, XsaveBuffer* scratch) {
  long r = VcpuIoctl(from_fd, kIoctlGetXsave, scratch);
  if (r < 0) return static_cast<int>(r);
  r = VcpuIoctl(to_fd, kIoctlSetXsave, scratch);
  return r < 0 ? static_cast<int>(r) : 0;
}

int LoadHostFpuControl(int vcpu_fd, XsaveBuffer* scratch) {
  uint16_t fcw;
  uint32_t mxcsr;
  asm volatile("fnstcw %0" : "=m"(fcw));
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  long r = VcpuIoctl(vcpu_fd, kIoctlGetXsave, scratch);
  if (r < 0) return static_cast<int>(r);
  // Legacy XSAVE region: FCW at byte 0, MXCSR at byte 24.
  memcpy(reinterpret_cast<char*>(scratch->region), &fcw, sizeof(fcw));
  memcpy(reinterpret_cast<char*>(scratch->region) + 24, &mxcsr, sizeof(mxcsr));
  r = VcpuIoctl(vcpu_fd, kIoctlSetXsave, scratch);
  return r < 0 ? static_cast<int>(r) : 0;
}

}  // namespace ix::vmm
