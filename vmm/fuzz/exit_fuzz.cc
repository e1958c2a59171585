// libFuzzer target over the VMM's pure exit and hypercall layer, as a fake vCPU would drive it:
// exits (DecodeExit, DecideExit), exception reports (ExceptionToSignal, ExceptionFrameInBounds,
// ExceptionReturnRflags), syscall returns (SyscallReturnRflags), the policy (ParsePolicy,
// Policy::For) and a forwarded syscall's argument handling (CheckSyscallArgs, CopyInArgs,
// CopyOutArgs) over fake guest memory. Also builds with dataplane/fuzz/fuzz_driver.cc (no
// libFuzzer) under gcc.
//
// Each input starts with the fake VM (where the forbidden range lies, which descriptors are the
// VMM's), then is a list of operations, by an opcode byte modulo 8:
//   0: an exit: KVM_RUN's result and a kvm_run (reason, union bytes, MMIO address);
//   1: an exception report: vector, error code, cr2, a frame address against an IST area, rflags;
//   2: a syscall return's r11;
//   3: policy text, raw bytes (must not crash; errors name the source);
//   4: policy text built from rules (must parse, and For() must give the last rule per syscall);
//   5: a fake guest page mapped near the forbidden range, low, after another page, or anywhere;
//   6: structured data (iovec, msghdr, cmsghdrs with descriptors, pointers, bytes) put in a page;
//   7: a syscall: number and six arguments through CheckSyscallArgs and CopyInArgs; when that
//      forwards the call, KernelModel (written from the kernel's signatures, not from the code
//      under test) checks what the kernel would do with the forwarded arguments; then the kernel
//      scribbles on the copies and CopyOutArgs must write back only into the named structures.
// A broken invariant prints what broke and aborts (the crash libFuzzer reports).
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "ix/hypercall.h"
#include "vmm/arg_check.h"
#include "vmm/arg_copy.h"
#include "vmm/exit.h"
#include "vmm/policy.h"
#include "vmm/syscall_table.h"
#include "vmm/vmm_state.h"

namespace {

using namespace ix::vmm;  // NOLINT: a test program over one namespace

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      fprintf(stderr, "exit_fuzz: %s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                             \
    }                                                                                      \
  } while (0)

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ >= end_; }
  uint8_t U8() { return p_ < end_ ? *p_++ : 0; }
  // Big-endian; each byte read in its own statement, so the order does not depend on the compiler.
  uint16_t U16() {
    uint16_t hi = U8();
    return static_cast<uint16_t>(hi << 8 | U8());
  }
  uint32_t U32() {
    uint32_t hi = U16();
    return hi << 16 | U16();
  }
  uint64_t U64() {
    uint64_t hi = U32();
    return hi << 32 | U32();
  }
  size_t Bytes(void* dst, size_t n) {
    n = std::min<size_t>(n, static_cast<size_t>(end_ - p_));
    memcpy(dst, p_, n);
    p_ += n;
    return n;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

// ---- The fake VM: forbidden range, guest pages, VMM descriptors --------------------------------

constexpr int kPages = 8;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kGuard = 64ull << 10;
constexpr uint64_t kRegion = 256ull << 20;

struct FakePage {
  bool mapped = false;
  uint64_t gva = 0;
  uint8_t bytes[kPage];
};

struct FakeVm {
  ForbiddenRange forbidden;
  uint64_t vmm_fds = 0;  // bit fd set: descriptor fd (0..63) is the VMM's
  FakePage pages[kPages];
  uint64_t recent[4] = {};  // where PokePage put its last structures (Pointer picks them)
  int nrecent = 0;
  long reads = 0;         // GuestReader calls since the counter was reset
  uint64_t write_lo = 0;  // where CopyOutArgs may write: [write_lo, write_hi)
  uint64_t write_hi = 0;
};

const FakePage* PageAt(const FakeVm& vm, uint64_t gva) {
  for (const FakePage& p : vm.pages) {
    if (p.mapped && p.gva == (gva & ~(kPage - 1))) return &p;
  }
  return nullptr;
}

// Reads [gva, gva + len) from the fake pages; false if any byte is not in one.
bool ReadFake(const FakeVm& vm, void* dst, uint64_t gva, uint64_t len) {
  auto* out = static_cast<uint8_t*>(dst);
  while (len > 0) {
    const FakePage* p = PageAt(vm, gva);
    if (p == nullptr) return false;
    uint64_t off = gva & (kPage - 1), n = std::min(len, kPage - off);
    memcpy(out, p->bytes + off, n);
    out += n;
    gva += n;  // wraps to 0 past the top; page 0 is then looked up like any other
    len -= n;
  }
  return true;
}

// The guest accessors, faithful to guest_memory.h: nothing in the forbidden range (it is never
// the guest's), otherwise whatever the fake pages hold.
bool GuestRead(const void* ctx, void* dst, uint64_t gva, size_t len) {
  auto* vm = static_cast<FakeVm*>(const_cast<void*>(ctx));
  FUZZ_CHECK(len <= kArgArenaSize);  // reads go into the arena; nothing larger fits
  ++vm->reads;
  if (vm->forbidden.Overlaps(gva, len)) return false;
  return ReadFake(*vm, dst, gva, len);
}

bool GuestWrite(const void* ctx, uint64_t gva, const void* src, size_t len) {
  auto* vm = static_cast<FakeVm*>(const_cast<void*>(ctx));
  // CopyOutArgs writes back only into the guest structures the call named.
  if (len > 0 && (gva < vm->write_lo || gva > vm->write_hi || len > vm->write_hi - gva)) {
    fprintf(stderr, "exit_fuzz: write-back of %zu bytes at %#lx outside [%#lx, %#lx)\n", len, gva,
            vm->write_lo, vm->write_hi);
    abort();
  }
  if (vm->forbidden.Overlaps(gva, len)) return false;
  const auto* in = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < len; ++i) {
    auto* p = const_cast<FakePage*>(PageAt(*vm, gva + i));
    if (p == nullptr) return false;
    p->bytes[(gva + i) & (kPage - 1)] = in[i];
  }
  return true;
}

bool IsVmmFd(const FakeVm& vm, int fd) { return fd >= 0 && fd < 64 && (vm.vmm_fds >> fd & 1); }
bool FakeVmmFd(const void* ctx, int fd) { return IsVmmFd(*static_cast<const FakeVm*>(ctx), fd); }

void SetUpVm(Input& in, FakeVm* vm) {
  // The private region: 2 MiB aligned, somewhere in user space (or, rarely, anywhere at all).
  uint64_t base = in.U8() < 240 ? (0x10000000ull + (uint64_t{in.U32()} << 21) % 0x7ff000000000ull)
                                : in.U64() & ~((2ull << 20) - 1);
  vm->forbidden = {base - kGuard, base + kRegion + kGuard};
  vm->vmm_fds = in.U8() < 200 ? (0xffull << 3) | (uint64_t{in.U8()} << 32) : in.U64();
}

// A pointer a guest program might pass: at or around the forbidden range, in a fake page, small.
uint64_t Pointer(Input& in, const FakeVm& vm) {
  const ForbiddenRange& f = vm.forbidden;
  switch (in.U8() % 11) {
    case 0: return in.U64();
    case 9:
    case 10: return vm.recent[in.U8() % 4];
    case 1: return f.lo - 1 - in.U16();
    case 2: return f.lo + in.U32() % (f.hi - f.lo);
    case 3: return f.hi - 1 - in.U16();
    case 4: return f.hi + in.U16();
    case 5:
    case 6: {
      const FakePage& p = vm.pages[in.U8() % kPages];
      return p.gva + in.U16() % kPage;
    }
    case 7: return 0;
    default: return in.U8();
  }
}

// A length for a buffer at `ptr`: small, reaching just into or short of the forbidden range, huge.
uint64_t Length(Input& in, const FakeVm& vm, uint64_t ptr) {
  switch (in.U8() % 7) {
    case 0: return in.U8();
    case 1: return in.U16();
    case 2: return vm.forbidden.lo - ptr + in.U8();  // wraps if ptr is above: fine, any length
    case 3: return vm.forbidden.lo - ptr - 1 - in.U8();
    case 4: return ~0ull - in.U8();
    case 5: return in.U32();
    default: return in.U64();
  }
}

void MapPage(Input& in, FakeVm* vm) {
  FakePage& p = vm->pages[in.U8() % kPages];
  const ForbiddenRange& f = vm->forbidden;
  uint64_t gva;
  switch (in.U8() % 6) {
    case 0: gva = f.lo - kPage * (1 + in.U8() % 32); break;
    case 1: gva = f.hi + kPage * (in.U8() % 32); break;
    case 2: gva = uint64_t{in.U16()} << 12; break;
    case 3:
    case 4: {  // right after another page, so structures can cross pages
      const FakePage& q = vm->pages[in.U8() % kPages];
      gva = q.gva + kPage;
      break;
    }
    default: gva = in.U64(); break;
  }
  p.gva = gva & ~(kPage - 1);
  p.mapped = true;
  memset(p.bytes, 0, sizeof(p.bytes));
}

void Store(FakeVm* vm, FakePage& p, uint64_t off, const void* src, size_t len) {
  if (off >= kPage) return;
  memcpy(p.bytes + off, src, std::min<size_t>(len, kPage - off));
  vm->recent[vm->nrecent++ % 4] = p.gva + off;
}

void PokePage(Input& in, FakeVm* vm) {
  FakePage& p = vm->pages[in.U8() % kPages];
  uint64_t off = in.U16() % kPage;
  switch (in.U8() % 7) {
    case 0: {
      iovec v;
      uint64_t base = Pointer(in, *vm);
      v.iov_base = reinterpret_cast<void*>(base);
      v.iov_len = Length(in, *vm, base);
      Store(vm, p, off, &v, sizeof(v));
      break;
    }
    case 1: {
      msghdr m{};
      uint64_t name = Pointer(in, *vm), iov = Pointer(in, *vm), control = Pointer(in, *vm);
      if (in.U8() < 128) name = 0;
      m.msg_name = reinterpret_cast<void*>(name);
      m.msg_namelen = static_cast<socklen_t>(in.U8() < 128 ? in.U8() : Length(in, *vm, name));
      m.msg_iov = reinterpret_cast<iovec*>(iov);
      m.msg_iovlen = in.U8() < 200 ? in.U8() % 4 : in.U64();
      m.msg_control = reinterpret_cast<void*>(control);
      m.msg_controllen = in.U8() < 200 ? in.U16() % 512 : Length(in, *vm, control);
      Store(vm, p, off, &m, sizeof(m));
      break;
    }
    case 2: {  // a cmsghdr, usually SCM_RIGHTS with descriptors that may be the VMM's
      uint8_t buf[CMSG_SPACE(8 * sizeof(int))] = {};
      auto* h = reinterpret_cast<cmsghdr*>(buf);
      int nfds = in.U8() % 9;
      h->cmsg_len = in.U8() < 220 ? CMSG_LEN(nfds * sizeof(int)) : in.U64();
      h->cmsg_level = in.U8() < 220 ? SOL_SOCKET : in.U8();
      h->cmsg_type = in.U8() < 220 ? int{SCM_RIGHTS} : in.U8();
      for (int i = 0; i < nfds; ++i) reinterpret_cast<int*>(CMSG_DATA(h))[i] = in.U8() % 70;
      Store(vm, p, off, buf, CMSG_LEN(nfds * sizeof(int)));
      break;
    }
    case 3: {  // the rest of the page as cmsghdrs of another level, which the kernel skips
      cmsghdr pad{};
      pad.cmsg_len = sizeof(cmsghdr);
      pad.cmsg_level = in.U8();
      off &= ~(sizeof(pad) - 1);
      for (uint64_t o = off; o + sizeof(pad) <= kPage; o += sizeof(pad)) memcpy(p.bytes + o, &pad, sizeof(pad));
      vm->recent[vm->nrecent++ % 4] = p.gva + off;
      break;
    }
    case 4: {
      uint64_t v = Pointer(in, *vm);
      Store(vm, p, off, &v, sizeof(v));
      break;
    }
    case 5: {  // a whole message in one page: msghdr, one iovec, SCM_RIGHTS with descriptors
      off %= kPage - 256;
      const uint64_t gva = p.gva + off;
      struct {
        msghdr m;
        iovec v;
        alignas(cmsghdr) uint8_t control[CMSG_SPACE(8 * sizeof(int))];
      } msg{};
      const int nfds = 1 + in.U8() % 8;
      msg.m.msg_iov = reinterpret_cast<iovec*>(gva + offsetof(decltype(msg), v));
      msg.m.msg_iovlen = in.U8() % 2;
      msg.m.msg_control = reinterpret_cast<void*>(gva + offsetof(decltype(msg), control));
      msg.m.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
      uint64_t base = Pointer(in, *vm);
      msg.v.iov_base = reinterpret_cast<void*>(base);
      msg.v.iov_len = Length(in, *vm, base);
      auto* h = reinterpret_cast<cmsghdr*>(msg.control);
      h->cmsg_len = CMSG_LEN(nfds * sizeof(int));
      h->cmsg_level = SOL_SOCKET;
      h->cmsg_type = SCM_RIGHTS;
      for (int i = 0; i < nfds; ++i) reinterpret_cast<int*>(CMSG_DATA(h))[i] = in.U8() % 70;
      Store(vm, p, off, &msg, sizeof(msg));
      break;
    }
    default: {
      uint8_t raw[64];
      size_t n = in.Bytes(raw, in.U8() % sizeof(raw));
      Store(vm, p, off, raw, n);
      break;
    }
  }
}

// ---- Exits -------------------------------------------------------------------------------------

bool ValidSignal(int signo) { return signo > 0 && signo < 65; }

void CheckAction(const ExitAction& a) {
  FUZZ_CHECK(static_cast<int>(a.kind) <= static_cast<int>(ExitActionKind::kKill));
  FUZZ_CHECK(a.signo == 0 || ValidSignal(a.signo));
  if (a.kind == ExitActionKind::kKill || a.kind == ExitActionKind::kSignal) {
    FUZZ_CHECK(ValidSignal(a.signo));
    FUZZ_CHECK(a.why != nullptr && a.why[0] != 0);
  }
}

void FuzzExit(Input& in) {
  static kvm_run run;  // ~2 KiB with the sync regs: not on the stack for every input
  memset(&run, 0, sizeof(run));
  uint8_t rs = in.U8();
  int run_result = rs < 128 ? 0 : rs < 160 ? -EINTR : rs < 192 ? -EFAULT : -(1 + in.U16() % 4095);
  static constexpr uint32_t kReasons[] = {
      KVM_EXIT_MMIO, KVM_EXIT_MMIO, KVM_EXIT_MMIO, KVM_EXIT_INTR, KVM_EXIT_SHUTDOWN,
      KVM_EXIT_IO, KVM_EXIT_HLT, KVM_EXIT_INTERNAL_ERROR, KVM_EXIT_FAIL_ENTRY, KVM_EXIT_UNKNOWN,
      KVM_EXIT_EXCEPTION, KVM_EXIT_DEBUG, KVM_EXIT_SYSTEM_EVENT,
  };
  uint8_t r = in.U8();
  run.exit_reason = r < 240 ? kReasons[r % (sizeof(kReasons) / sizeof(kReasons[0]))] : in.U32();
  in.Bytes(&run.mmio, in.U8() % 64);  // the union: mmio, io, internal, ...
  if (run.exit_reason == KVM_EXIT_MMIO) {
    static constexpr uint64_t kGpas[] = {IX_HC_SYSCALL_GPA, IX_HC_EXCEPTION_GPA, IX_HC_NOP_GPA};
    uint8_t g = in.U8();
    if (g < 192) run.mmio.phys_addr = kGpas[g % 3] + (g >= 128 ? in.U8() : 0);
  }

  DecodedExit e = DecodeExit(run_result, run);
  FUZZ_CHECK(static_cast<int>(e.kind) < static_cast<int>(ExitKind::kCount));
  FUZZ_CHECK(e.reason == run.exit_reason);
  FUZZ_CHECK(ExitKindName(e.kind) != nullptr && strcmp(ExitKindName(e.kind), "?") != 0);
  if (run_result < 0) {
    FUZZ_CHECK(e.run_errno == -run_result);
    FUZZ_CHECK(e.kind == ExitKind::kInterrupted || e.kind == ExitKind::kMemoryFault ||
               e.kind == ExitKind::kRunError);
  } else if (run.exit_reason == KVM_EXIT_MMIO) {
    FUZZ_CHECK(e.gpa == run.mmio.phys_addr);
    FUZZ_CHECK((e.kind == ExitKind::kSyscall) == (e.gpa == IX_HC_SYSCALL_GPA));
    FUZZ_CHECK((e.kind == ExitKind::kException) == (e.gpa == IX_HC_EXCEPTION_GPA));
  } else {
    FUZZ_CHECK(e.kind != ExitKind::kSyscall && e.kind != ExitKind::kException);
  }
  ExitAction a = DecideExit(e);
  CheckAction(a);
  FUZZ_CHECK((a.kind == ExitActionKind::kSyscall) == (e.kind == ExitKind::kSyscall));
  if (e.kind == ExitKind::kUnbackedMmio) FUZZ_CHECK(a.addr == e.gpa);
  // Any byte as a kind (a corrupted value) still has a printable name.
  FUZZ_CHECK(ExitKindName(static_cast<ExitKind>(in.U8())) != nullptr);
}

// Bits no guest may ever set in RFLAGS: IOPL (12-13), VM (17), VIF (19), VIP (20); RF (16) too.
constexpr uint64_t kNeverRflags = 0x3000 | (1 << 16) | (1 << 17) | (1 << 19) | (1 << 20);
constexpr uint64_t kArithmeticRflags = 0xcd5;  // CF PF AF ZF SF OF DF: always the program's

void CheckReturnRflags(uint64_t in, uint64_t out) {
  FUZZ_CHECK((out & kNeverRflags) == 0);
  FUZZ_CHECK((out & 0x202) == 0x202);                    // bit 1 and IF
  FUZZ_CHECK((out & ~in & ~uint64_t{0x202}) == 0);         // nothing the guest did not have
  FUZZ_CHECK(out >> 22 == 0 && (out & 0x8028) == 0);       // no reserved bit
  FUZZ_CHECK((out & kArithmeticRflags) == (in & kArithmeticRflags));
}

// The frame check's oracle, in 128-bit arithmetic where nothing wraps.
bool FrameOracle(uint64_t hva, uint64_t size, uint64_t lo, uint64_t hi, int dpl) {
  return dpl == 0 && lo <= hva && static_cast<unsigned __int128>(hva) + size <= hi;
}

void FuzzException(Input& in) {
  uint8_t vs = in.U8();
  uint64_t vector = vs < 192 ? vs % 40 : in.U64();
  uint64_t error = in.U8() < 128 ? in.U8() : in.U64();
  uint64_t cr2 = in.U64();
  ExitAction a = ExceptionToSignal(vector, error, cr2);
  CheckAction(a);
  FUZZ_CHECK(a.kind == ExitActionKind::kSignal || a.kind == ExitActionKind::kKill);
  if (vector >= 32 || vector == 2 || vector == 8 || vector == 18) FUZZ_CHECK(a.kind == ExitActionKind::kKill);
  if (vector == 14 && a.kind == ExitActionKind::kSignal) {
    FUZZ_CHECK(a.signo == SIGSEGV && a.addr == cr2);
    FUZZ_CHECK(a.si_code == ((error & 1) ? SEGV_ACCERR : SEGV_MAPERR));
  } else {
    FUZZ_CHECK(a.addr == 0);
  }

  // The frame against an IST area: usually a real-looking one, sometimes anything.
  uint64_t lo = in.U8() < 200 ? 0x7f0000000000ull + (uint64_t{in.U16()} << 19) + (128 << 10) : in.U64();
  uint64_t hi = in.U8() < 200 ? lo + (64 << 10) : in.U64();
  uint64_t hva;
  switch (in.U8() % 5) {
    case 0: hva = lo + in.U16(); break;
    case 1: hva = lo - in.U8(); break;
    case 2: hva = hi - in.U8(); break;
    case 3: hva = hi + in.U8(); break;
    default: hva = in.U64(); break;
  }
  uint64_t size = in.U8() < 200 ? sizeof(ix_exception_frame) : in.U64();
  uint8_t d = in.U8();
  int dpl = d < 128 ? 0 : d < 250 ? d % 4 : static_cast<int>(in.U32());
  FUZZ_CHECK(ExceptionFrameInBounds(hva, size, lo, hi, dpl) == FrameOracle(hva, size, lo, hi, dpl));

  uint64_t rflags = in.U8() < 128 ? in.U32() : in.U64();
  CheckReturnRflags(rflags, ExceptionReturnRflags(rflags));
}

void FuzzSyscallReturn(Input& in) {
  uint64_t r11 = in.U8() < 128 ? in.U32() : in.U64();
  CheckReturnRflags(r11, SyscallReturnRflags(r11));
}

// ---- Policy ------------------------------------------------------------------------------------

void CheckEntry(const PolicyEntry& e) {
  FUZZ_CHECK(static_cast<int>(e.action) <= static_cast<int>(PolicyAction::kKill));
  if (e.action == PolicyAction::kDeny) FUZZ_CHECK(e.err > 0 && e.err < 4096);
}

void FuzzPolicyText(Input& in) {
  char text[1024];
  size_t n = in.Bytes(text, in.U16() % sizeof(text));
  absl::StatusOr<Policy> p = ParsePolicy(absl::string_view(text, n), "fuzz");
  if (!p.ok()) {
    FUZZ_CHECK(p.status().message().substr(0, 5) == "fuzz:");
    return;
  }
  CheckEntry(p->fallback);
  for (long nr = -2; nr < kMaxPolicy + 2; ++nr) CheckEntry(p->For(nr));
}

// Builds rules that must parse and checks that For() gives the last rule for each syscall.
void FuzzPolicyRules(Input& in) {
  static PolicyEntry want[kMaxPolicy];
  static bool has[kMaxPolicy];
  memset(has, 0, sizeof(has));
  PolicyEntry fallback{PolicyAction::kAllow, 0};
  std::string text;
  auto space = [&] { text += " \t"[in.U8() & 1]; };
  for (int rules = in.U8() % 24; rules > 0; --rules) {
    long nr = in.U16() % kMaxPolicy;
    const char* name = SyscallName(nr);
    bool is_default = in.U8() < 24;
    if (is_default) text += "default";
    else if (name != nullptr && in.U8() < 200) text += name;
    else text += std::to_string(nr);
    space();
    PolicyEntry e{PolicyAction::kAllow, 0};
    switch (in.U8() % 4) {
      case 0: text += "allow"; break;
      case 1: text += "kill"; e.action = PolicyAction::kKill; break;
      case 2: text += "deny"; e = {PolicyAction::kDeny, EPERM}; break;
      default: {
        int err = 1 + in.U16() % 4095;
        const char* ename = err < 134 ? strerrorname_np(err) : nullptr;
        text += "deny";
        space();
        if (ename != nullptr && in.U8() < 160) text += ename;
        else text += std::to_string(err);
        e = {PolicyAction::kDeny, static_cast<uint16_t>(err)};
      }
    }
    if (in.U8() < 40) text += "  # a comment: deny kill 12";
    text += in.U8() < 20 ? "\r\n" : "\n";
    if (is_default) {
      fallback = e;
    } else {
      want[nr] = e;
      has[nr] = true;
    }
  }
  absl::StatusOr<Policy> p = ParsePolicy(text, "rules");
  if (!p.ok()) fprintf(stderr, "exit_fuzz: policy text refused: %s\n%s", p.status().ToString().c_str(), text.c_str());
  FUZZ_CHECK(p.ok());
  for (long nr = -2; nr < kMaxPolicy + 2; ++nr) {
    PolicyEntry got = p->For(nr), exp = nr >= 0 && nr < kMaxPolicy && has[nr] ? want[nr] : fallback;
    FUZZ_CHECK(got.action == exp.action);
    if (exp.action == PolicyAction::kDeny) FUZZ_CHECK(got.err == exp.err);
  }
}

// ---- Syscall arguments -------------------------------------------------------------------------

// The copies CopyInArgs makes (VMM memory in ix-run: a thread block's arena).
alignas(16) char g_arena[kArgArenaSize];

// The oracle: a model of what the kernel does with the arguments ix-run forwards, written from
// the kernel's syscall signatures and not from arg_check/arg_copy. It reads structures the way
// the kernel does; a structure that holds pointers or lengths must then be a VMM copy (another
// guest thread could rewrite guest memory after the check), and every buffer the kernel reads or
// writes must stay out of the forbidden range. Descriptor, count and command arguments the
// kernel declares `int` or `unsigned int` count by their low 32 bits only.
class KernelModel {
 public:
  KernelModel(const FakeVm& vm, size_t arena_used) : vm_(vm), used_(arena_used) {}
  // The first problem found ("iovec buffer reaches the forbidden range"), or nullptr.
  const char* why() const { return why_ ? why_buf_ : nullptr; }

  void Call(long nr, const uint64_t* a) {
    switch (nr) {
      case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64:
        return Buffer(a[1], a[2], "read/write buffer");
      case SYS_getrandom: return Buffer(a[0], a[1], "getrandom buffer");
      case SYS_sendto:
        Buffer(a[1], a[2], "sendto buffer");
        if (Int(a[5]) >= 0 && Int(a[5]) <= 128) Buffer(a[4], uint64_t(Int(a[5])), "sendto address");
        return;
      case SYS_recvfrom:
        Buffer(a[1], a[2], "recvfrom buffer");
        return SockaddrOut(a[4], a[5]);
      case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
        return SockaddrOut(a[1], a[2]);
      case SYS_getsockopt: {
        uint32_t len;
        if (a[4] == 0 || !Copied(a[4], sizeof(len), &len, "getsockopt optlen")) return;
        if (static_cast<int32_t>(len) >= 0) Buffer(a[3], len, "getsockopt optval");
        return;
      }
      case SYS_poll: case SYS_ppoll:
        return Buffer(a[0], uint64_t{U32(a[1])} * 8, "pollfd array");
      case SYS_epoll_wait: case SYS_epoll_pwait: case SYS_epoll_pwait2:
        if (Int(a[2]) > 0) Buffer(a[1], uint64_t(Int(a[2])) * 12, "epoll events");
        return;
      case SYS_select: case SYS_pselect6: {
        if (Int(a[0]) < 0) return;
        uint64_t bytes = (uint64_t(Int(a[0])) + 63) / 64 * 8;
        for (int i = 1; i <= 3; ++i) Buffer(a[i], bytes, "fd set");
        if (nr == SYS_pselect6 && a[5] != 0) {
          uint64_t pair[2];
          if (Copied(a[5], sizeof(pair), pair, "pselect6 sigset pair") && pair[1] == 8) {
            Buffer(pair[0], 8, "pselect6 sigset");
          }
        }
        return;
      }
      case SYS_readv: case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_preadv2:
      case SYS_pwritev2: case SYS_vmsplice: case SYS_process_madvise:
        return Vec(a[1], a[2]);
      case SYS_process_vm_readv: case SYS_process_vm_writev:
        Vec(a[1], a[2]);
        return Vec(a[3], a[4]);
      case SYS_sendmsg: return Msghdr(a[1], true);
      case SYS_recvmsg: return Msghdr(a[1], false);
      case SYS_sendmmsg: case SYS_recvmmsg: {
        const uint64_t vlen = std::min<uint64_t>(U32(a[2]), 1024);  // clamped to UIO_MAXIOV
        for (uint64_t i = 0; i < vlen && why_ == nullptr; ++i) {
          Msghdr(a[1] + i * sizeof(mmsghdr), nr == SYS_sendmmsg);
        }
        return;
      }
      case SYS_futex_waitv: {
        const uint32_t n = U32(a[1]);
        if (a[0] == 0 || n == 0 || n > 128) return;  // EINVAL
        for (uint32_t i = 0; i < n && why_ == nullptr; ++i) {
          futex_waitv w;
          if (Copied(a[0] + i * sizeof(w), sizeof(w), &w, "futex_waitv array")) {
            Buffer(w.uaddr, sizeof(uint32_t), "futex word");
          }
        }
        return;
      }
      case SYS_ioctl: case SYS_dup: case SYS_dup2: case SYS_dup3:
        return Fd(a[0], "descriptor");
      case SYS_fcntl:
        if (U32(a[1]) == F_DUPFD || U32(a[1]) == F_DUPFD_CLOEXEC) Fd(a[0], "fcntl(F_DUPFD) descriptor");
        return;
      case SYS_mmap:
        if (!(a[3] & MAP_ANONYMOUS)) Fd(a[4], "mmap descriptor");
        return;
      case SYS_pidfd_getfd: return Fd(a[1], "pidfd_getfd descriptor");
    }
  }

 private:
  static uint32_t U32(uint64_t v) { return static_cast<uint32_t>(v); }
  static int32_t Int(uint64_t v) { return static_cast<int32_t>(v); }

  void Fail(const char* what, const char* problem) {
    if (why_ != nullptr) return;
    why_ = what;
    snprintf(why_buf_, sizeof(why_buf_), "%s %s", what, problem);
  }
  bool InArena(uint64_t addr, uint64_t len) const {
    const auto base = reinterpret_cast<uint64_t>(g_arena);
    return addr >= base && addr - base <= used_ && len <= used_ - (addr - base);
  }
  // [addr, addr + len) in 128 bits: a range past 2^64 counts up to 2^64 only (the kernel refuses
  // anything beyond the user address space before touching it).
  bool Touches(uint64_t addr, uint64_t len) const {
    unsigned __int128 end = static_cast<unsigned __int128>(addr) + len;
    return len != 0 && addr < vm_.forbidden.hi && end > vm_.forbidden.lo;
  }
  // A buffer of plain bytes. NULL is exempt (as in arg_check): the kernel copies in order and
  // faults at page 0, which vm.mmap_min_addr keeps unmapped, before reaching anything else.
  void Buffer(uint64_t ptr, uint64_t len, const char* what) {
    if (ptr != 0 && Touches(ptr, len)) Fail(what, "reaches the forbidden range");
  }
  // A structure the kernel reads and trusts: must be a VMM copy.
  bool Copied(uint64_t addr, uint64_t len, void* dst, const char* what) {
    if (!InArena(addr, len)) {
      Fail(what, "was not copied: the kernel reads it from guest memory after the check");
      return false;
    }
    memcpy(dst, reinterpret_cast<const void*>(addr), len);
    return true;
  }
  void Fd(uint64_t v, const char* what) {
    if (IsVmmFd(vm_, static_cast<int>(U32(v)))) Fail(what, "is a VMM descriptor");
  }
  // move_addr_to_user: reads the int at `len_ptr`, writes at most min(len, 128) bytes.
  void SockaddrOut(uint64_t addr, uint64_t len_ptr) {
    uint32_t len;
    if (addr == 0 || len_ptr == 0 || !Copied(len_ptr, sizeof(len), &len, "socklen word")) return;
    if (static_cast<int32_t>(len) >= 0) Buffer(addr, std::min<uint32_t>(len, 128), "socket address");
  }
  // import_iovec: more than UIO_MAXIOV is EINVAL; otherwise the array is read whole.
  void Vec(uint64_t iov, uint64_t cnt) {
    if (cnt == 0 || cnt > 1024) return;
    for (uint64_t i = 0; i < cnt && why_ == nullptr; ++i) {
      iovec v;
      if (!Copied(iov + i * sizeof(v), sizeof(v), &v, "iovec array")) return;
      if (Touches(reinterpret_cast<uint64_t>(v.iov_base), v.iov_len)) Fail("iovec buffer", "reaches the forbidden range");
    }
  }
  // __scm_send: the control buffer is copied whole (EINVAL above INT_MAX, EFAULT from NULL), each
  // header must be CMSG_OK, headers of other levels are skipped, and there is no header limit.
  void Control(uint64_t control, uint64_t len) {
    if (len == 0 || len > 0x7fffffff || control == 0) return;
    if (!InArena(control, len)) return Fail("control buffer", "was not copied");
    const char* c = reinterpret_cast<const char*>(control);
    for (uint64_t off = 0; off + sizeof(cmsghdr) <= len;) {
      cmsghdr h;
      memcpy(&h, c + off, sizeof(h));
      if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > len - off) return;  // EINVAL
      if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
        for (uint64_t i = 0; i < (h.cmsg_len - CMSG_LEN(0)) / sizeof(int); ++i) {
          int fd;
          memcpy(&fd, c + off + CMSG_LEN(0) + i * sizeof(int), sizeof(fd));
          if (IsVmmFd(vm_, fd)) return Fail("SCM_RIGHTS descriptor", "is a VMM descriptor");
        }
      }
      off += CMSG_ALIGN(h.cmsg_len);
    }
  }
  void Msghdr(uint64_t addr, bool sending) {
    msghdr m;
    if (!Copied(addr, sizeof(m), &m, "msghdr")) return;
    Buffer(reinterpret_cast<uint64_t>(m.msg_name), m.msg_namelen, "msg_name");
    if (!sending) Buffer(reinterpret_cast<uint64_t>(m.msg_control), m.msg_controllen, "msg_control");
    if (m.msg_iovlen > 1024) return;  // EMSGSIZE
    Vec(reinterpret_cast<uint64_t>(m.msg_iov), m.msg_iovlen);
    if (sending) Control(reinterpret_cast<uint64_t>(m.msg_control), m.msg_controllen);
  }

  const FakeVm& vm_;
  const size_t used_;
  const char* why_ = nullptr;
  char why_buf_[160];
};

// Where CopyOutArgs may write for syscall `nr` with guest arguments `a`: the structures it copied.
void AllowWriteBack(long nr, const uint64_t* a, FakeVm* vm) {
  uint64_t at = 0, len = 0;
  switch (nr) {
    case SYS_recvfrom: at = a[5]; len = sizeof(socklen_t); break;
    case SYS_accept: case SYS_accept4: case SYS_getsockname: case SYS_getpeername:
      at = a[2]; len = sizeof(socklen_t); break;
    case SYS_getsockopt: at = a[4]; len = sizeof(socklen_t); break;
    case SYS_recvmsg: at = a[1]; len = sizeof(msghdr); break;
    case SYS_sendmmsg: case SYS_recvmmsg:
      at = a[1]; len = std::min<uint64_t>(a[2], 1024) * sizeof(mmsghdr); break;
  }
  vm->write_lo = at;
  vm->write_hi = at + len < at ? ~0ull : at + len;
}

long SyscallNr(Input& in) {
  static constexpr long kInteresting[] = {
      SYS_read, SYS_write, SYS_pread64, SYS_pwrite64, SYS_readv, SYS_writev, SYS_preadv,
      SYS_pwritev, SYS_preadv2, SYS_pwritev2, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg,
      SYS_recvmmsg, SYS_recvfrom, SYS_sendto, SYS_getrandom, SYS_ioctl, SYS_dup,
      SYS_dup2, SYS_dup3, SYS_fcntl, SYS_mmap, SYS_pidfd_getfd, SYS_io_uring_setup,
      SYS_io_uring_enter, SYS_io_uring_register, SYS_io_submit, SYS_ptrace, SYS_bpf, SYS_prctl,
      SYS_accept4, SYS_getsockname, SYS_getsockopt, SYS_mincore, SYS_poll, SYS_ppoll,
      SYS_epoll_wait, SYS_select, SYS_pselect6, SYS_process_vm_readv, SYS_process_vm_writev,
      SYS_vmsplice, SYS_futex_waitv, SYS_io_getevents, SYS_exit, SYS_munmap,
      IX_SYSCALL_GUEST_EXIT, IX_SYSCALL_GUEST_RING,
  };
  uint8_t s = in.U8();
  if (s < 160) return kInteresting[s % (sizeof(kInteresting) / sizeof(kInteresting[0]))];
  if (s < 224) return in.U16() % 600;
  return static_cast<long>(in.U64());  // negative ones too
}

bool AlwaysRefused(long nr, const uint64_t* a) {
  switch (nr) {
    case SYS_io_uring_setup: case SYS_io_uring_enter: case SYS_io_uring_register:
    case SYS_io_submit: case SYS_ptrace: case SYS_bpf:
      return true;
    case SYS_prctl:
      return static_cast<int>(a[0]) == PR_SET_MM;  // prctl's option is an int
  }
  return false;
}

void CheckVerdict(long nr, const uint64_t* a, ArgVerdict v) {
  FUZZ_CHECK(v == ArgVerdict::kOk || v == ArgVerdict::kFault || v == ArgVerdict::kBadFd ||
             v == ArgVerdict::kRefused);
  int err = ArgVerdictErrno(nr, v);
  switch (v) {
    case ArgVerdict::kOk: FUZZ_CHECK(err == 0); break;
    case ArgVerdict::kFault: FUZZ_CHECK(err == EFAULT); break;
    case ArgVerdict::kBadFd: FUZZ_CHECK(err == EBADF); break;
    case ArgVerdict::kRefused:
      FUZZ_CHECK(err == EPERM || err == ENOSYS);
      if (nr == SYS_ptrace) FUZZ_CHECK(err == EPERM);
      if (nr == SYS_io_uring_setup || nr == SYS_io_submit) FUZZ_CHECK(err == ENOSYS);
      break;
  }
  if (AlwaysRefused(nr, a)) {
    if (v != ArgVerdict::kRefused) {
      fprintf(stderr, "exit_fuzz: %s (%ld) with args %#lx %#lx ... was not refused\n",
              SyscallName(nr) ? SyscallName(nr) : "?", nr, a[0], a[1]);
      abort();
    }
  }
}

void FuzzSyscall(Input& in, FakeVm* vm) {
  long nr = SyscallNr(in);
  uint64_t a[6];
  for (int i = 0; i < 6; ++i) {
    switch (in.U8() % 5) {
      case 0: case 1: a[i] = Pointer(in, *vm); break;
      case 2: a[i] = Length(in, *vm, i > 0 ? a[i - 1] : 0); break;
      case 3: {  // a descriptor or a count, sometimes with high bits the kernel ignores
        a[i] = in.U8() % 70;
        if (in.U8() < 16) a[i] |= uint64_t{in.U32()} << 32;
        break;
      }
      default: a[i] = in.U64(); break;
    }
  }
  const ArgCheckEnv env{.forbidden = vm->forbidden, .read = GuestRead, .write = GuestWrite,
                        .is_vmm_fd = FakeVmmFd, .ctx = vm};
  // The registers alone: no memory read, the same answer twice.
  vm->reads = 0;
  ArgVerdict v = CheckSyscallArgs(nr, a, env);
  FUZZ_CHECK(vm->reads == 0);
  FUZZ_CHECK(CheckSyscallArgs(nr, a, env) == v);
  CheckVerdict(nr, a, v);
  if (v != ArgVerdict::kOk) return;

  // The structures in guest memory: copied, checked on the copy.
  uint8_t arena_sel = in.U8();
  size_t arena_size = arena_sel < 224 ? kArgArenaSize : (arena_sel % 32) * 64;  // sometimes small
  ArgArena arena(g_arena, arena_size);
  ArgCopy c;
  v = CopyInArgs(nr, a, env, &arena, &c);
  FUZZ_CHECK(v == ArgVerdict::kOk || v == ArgVerdict::kFault || v == ArgVerdict::kBadFd);
  CheckVerdict(nr, a, v);
  if (v != ArgVerdict::kOk) return;
  FUZZ_CHECK(c.ret <= 0 && c.ret > -4096);
  if (c.ret != 0) return;  // not made: the guest gets c.ret

  KernelModel kernel(*vm, arena_size - arena.left());
  kernel.Call(nr, c.a);
  if (kernel.why() != nullptr) {
    fprintf(stderr, "exit_fuzz: %s (%ld) forwarded, but its %s\n"
            "  guest args %#lx %#lx %#lx %#lx %#lx %#lx; forbidden [%#lx, %#lx); VMM fds %#lx\n",
            SyscallName(nr) ? SyscallName(nr) : "?", nr, kernel.why(), a[0], a[1], a[2], a[3], a[4],
            a[5], vm->forbidden.lo, vm->forbidden.hi, vm->vmm_fds);
    abort();
  }

  // The call "returns": the kernel may have written anything into the copies; the write-back must
  // stay inside the guest structures the call named.
  for (size_t i = 0, n = in.U8() % 16; i < n && arena_size > arena.left(); ++i) {
    g_arena[in.U16() % (arena_size - arena.left())] = static_cast<char>(in.U8());
  }
  uint8_t rs = in.U8();
  long ret = rs < 64 ? -static_cast<long>(1 + rs % 133) : rs < 192 ? rs % 8 : static_cast<long>(in.U32());
  AllowWriteBack(nr, a, vm);
  (void)CopyOutArgs(ret, c, env);
  vm->write_lo = vm->write_hi = 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FakeVm vm;  // 32 KiB of pages: static, reset per input
  for (FakePage& p : vm.pages) p.mapped = false;
  memset(vm.recent, 0, sizeof(vm.recent));
  Input in(data, size);
  SetUpVm(in, &vm);
  for (int ops = 0; !in.empty() && ops < 256; ++ops) {
    switch (in.U8() % 8) {
      case 0: FuzzExit(in); break;
      case 1: FuzzException(in); break;
      case 2: FuzzSyscallReturn(in); break;
      case 3: FuzzPolicyText(in); break;
      case 4: FuzzPolicyRules(in); break;
      case 5: MapPage(in, &vm); break;
      case 6: PokePage(in, &vm); break;
      default: FuzzSyscall(in, &vm); break;
    }
  }
  return 0;
}
