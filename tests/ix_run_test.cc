// Integration tests of ix-run: real programs from Debian and small test programs run natively and
// under ix-run in a real KVM guest; outputs, exit codes and deaths must match what Linux gives.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/run_program.h"

namespace {

using ix::testing::Result;
using ix::testing::Spawn;

std::string IxRun() { return getenv("IX_RUN_BIN"); }
std::string Prog(const std::string& name) { return std::string(getenv("IX_TEST_PROGS")) + "/" + name; }

// IX_TEST_RING=0|3 runs every program in that guest ring (scripts/test.sh runs this suite in both
// rings where ring 0 is native); unset, ix-run picks its default for the host.
std::vector<std::string> RingArgs() {
  const char* r = getenv("IX_TEST_RING");
  if (r == nullptr || *r == 0) return {};
  return {std::string("--ring=") + r};
}

Result Ix(std::vector<std::string> args) {
  std::vector<std::string> a = {IxRun()};
  for (const std::string& r : RingArgs()) a.push_back(r);  // an explicit --ring later wins
  a.insert(a.end(), args.begin(), args.end());
  return Spawn(a);
}
Result UnderIx(std::vector<std::string> program) {
  program.insert(program.begin(), "--");
  return Ix(program);
}

// What `ix-run --info` says of this host.
struct Host {
  bool hardware = false;  // VT-x/SVM: guest ring 0 is native
  int ring = -1;          // the ring programs run in here (IX_TEST_RING, else ix-run's default)
};
const Host& ThisHost() {
  static const Host host = [] {
    Host h;
    std::string info = Spawn({IxRun(), "--info"}).out;
    h.hardware = info.find("KVM backend:       hardware virtualization") != std::string::npos;
    size_t p = info.find("default ring:");
    if (p != std::string::npos) h.ring = atoi(info.c_str() + info.find_first_of("03", p));
    const char* r = getenv("IX_TEST_RING");
    if (r != nullptr && *r != 0) h.ring = atoi(r);
    return h;
  }();
  return host;
}

class IxRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/kvm";
  }
  // The program's output and exit status are the same natively and under ix-run.
  void ExpectSameAsNative(const std::vector<std::string>& program) {
    Result native = Spawn(program);
    Result ix = UnderIx(program);
    EXPECT_EQ(ix.out, native.out) << "stderr under ix-run: " << ix.err;
    EXPECT_EQ(ix.code(), native.code()) << "stderr under ix-run: " << ix.err;
  }
};

TEST_F(IxRunTest, TrueFalseAndExitCodes) {
  EXPECT_EQ(UnderIx({"/bin/true"}).code(), 0);
  EXPECT_EQ(UnderIx({"/bin/false"}).code(), 1);
  EXPECT_EQ(UnderIx({Prog("crash"), "exit:42"}).code(), 42);
}

TEST_F(IxRunTest, LsOfUsr) { ExpectSameAsNative({"ls", "-l", "/usr"}); }

TEST_F(IxRunTest, EchoLsAndAnExternalSort) {
  ExpectSameAsNative({"/bin/echo", "hello", "from", "a", "guest"});
  ExpectSameAsNative({"ls", "-la", "/etc"});
  // ls -l / without what changes between the two runs: dates (/tmp) and /proc's link count.
  ExpectSameAsNative({"sh", "-c", "ls -l --time-style=+ / | grep -v ' proc$'"});
  std::string in = ::testing::TempDir() + "/ix_sort_input";
  {
    std::ofstream f(in);
    for (int i = 0; i < 300000; ++i) f << (static_cast<long>(i) * 7919) % 300007 << " line " << i << '\n';
  }
  // A 1 MiB buffer makes sort spill to temporary files and merge them, on two threads.
  ExpectSameAsNative({"sh", "-c", "sort -S 1M --parallel=2 -n " + in + " | sha256sum; sort -c -n " + in + "; echo $?"});
  unlink(in.c_str());
}

TEST_F(IxRunTest, ShellPipeline) {
  ExpectSameAsNative({"sh", "-c", "printf 'b\\na\\nc\\n' | sort | tr a-z A-Z; echo $((6*7)); exit 3"});
}

TEST_F(IxRunTest, PythonStartsEightThreads) {
  ExpectSameAsNative({"/usr/bin/python3", "-c",
                      "import threading\nout = []\n"
                      "ts = [threading.Thread(target=lambda i=i: out.append(sum(range(i * 100000)))) for i in range(8)]\n"
                      "[t.start() for t in ts]\n[t.join() for t in ts]\n"
                      "print(sorted(out), threading.active_count())"});
}

TEST_F(IxRunTest, GzipAndSqlite) {
  std::string dir = ::testing::TempDir();
  std::string in = dir + "/ix_gz_input";
  {
    std::ofstream f(in);
    for (int i = 0; i < 200000; ++i) f << i * 7919 % 100003 << '\n';
  }
  ExpectSameAsNative({"sh", "-c", "gzip -n -c " + in + " | sha256sum"});
  ExpectSameAsNative({"sqlite3", ":memory:",
                      "create table t(x); with recursive c(i) as (select 1 union all select i+1 "
                      "from c where i < 10000) insert into t select i from c; select count(*), "
                      "sum(x), max(x) from t;"});
  unlink(in.c_str());
}

TEST_F(IxRunTest, ForkExecAndWait) { ExpectSameAsNative({Prog("forkexec")}); }

TEST_F(IxRunTest, SignalSemantics) {
  Result native = Spawn({Prog("signals")});
  ASSERT_EQ(native.code(), 0) << native.err;
  Result ix = UnderIx({Prog("signals")});
  EXPECT_EQ(ix.out, native.out) << ix.err;
  EXPECT_EQ(ix.code(), 0);
}

TEST_F(IxRunTest, DeathsMatchLinux) {
  for (const char* mode : {"null", "wild", "ro", "ud2", "div0", "abort", "stack", "int3"}) {
    Result native = Spawn({Prog("crash"), mode});
    ASSERT_TRUE(WIFSIGNALED(native.status)) << mode;
    Result ix = UnderIx({Prog("crash"), mode});
    EXPECT_EQ(ix.code(), 128 + WTERMSIG(native.status)) << mode << ": " << ix.err;
  }
}

// Faults KVM reports without an address (read-only, PROT_NONE, past a file's end, a rep movsb cut
// short) reach the handlers exactly as natively, including Appel-Li unprotect-and-retry; and a
// handler's FPU use does not leak into the interrupted code.
TEST_F(IxRunTest, ProtectionFaultsAsLinuxReportsThem) {
  Result native = Spawn({Prog("faults")});
  ASSERT_NE(native.out.find("xmm7 across a handler: kept"), std::string::npos) << native.out;
  ExpectSameAsNative({Prog("faults")});
  // And the faults really were guest faults the VMM resolved (54 of them: read-only, PROT_NONE,
  // rep movsb, 50 Appel-Li traps, SIGBUS), not native ones.
  std::string json = ::testing::TempDir() + "/ix_faults.json";
  Result r = Ix({"--stats_json=" + json, "--", Prog("faults")});
  ASSERT_EQ(r.code(), 0) << r.out << r.err;
  std::ifstream f(json);
  nlohmann::json j = nlohmann::json::parse(f);
  // kvm_pvm reports them as memory faults; on VT-x/SVM they reach the guest's IDT as exceptions.
  EXPECT_GE(j["exits"].value("memory_fault", 0) + j["exits"].value("exception", 0), 54) << j["exits"].dump();
  unlink(json.c_str());
}

TEST_F(IxRunTest, MainStackGrowsInTheGuest) { ExpectSameAsNative({Prog("deep_stack")}); }

TEST_F(IxRunTest, StatsCountEveryGetpid) {
  for (int n : {1000, 4321}) {
    std::string json = ::testing::TempDir() + "/ix_stats.json";
    Result r = Ix({"--stats_json=" + json, "--", Prog("getpid_n"), std::to_string(n)});
    ASSERT_EQ(r.code(), 0) << r.err;
    std::ifstream f(json);
    nlohmann::json j = nlohmann::json::parse(f);
    EXPECT_EQ(j["syscalls"]["getpid"]["count"], n);
    EXPECT_GE(j["hypercall_ns"]["count"].get<uint64_t>(), static_cast<uint64_t>(n));
    EXPECT_EQ(j["exit_code"], 0);
    unlink(json.c_str());
  }
}

// The kernel never touches VMM-private memory or descriptors on the program's behalf.
TEST_F(IxRunTest, EscapeAttemptsAreRefused) {
  std::string json = ::testing::TempDir() + "/ix_escape.json";
  Result r = Ix({"--stats_json=" + json, "--", Prog("escape")});
  ASSERT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out,
            "found\n"
            "read-into EFAULT\n"
            "read-across EFAULT\n"
            "readv EFAULT\n"
            "process_vm_writev EFAULT\n"
            "write-from EFAULT\n"
            "open-proc-self-mem EACCES\n"
            "ptrace EPERM\n"
            "ftruncate-stats EBADF\n"
            "reopen-stats EACCES\n"
            "kvm-fds seen, usable 0\n"
            "getpid ok\n")
      << r.err;
  std::ifstream f(json);
  nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_GE(j["counters"]["protection_violations"].get<uint64_t>(), 11u);
  unlink(json.c_str());
  // Natively the program finds no private region (and so proves nothing by passing there).
  EXPECT_EQ(Spawn({Prog("escape")}).out, "no-region\n");
}

TEST_F(IxRunTest, VdsoClockNeedsNoHypercalls) {
  std::string json = ::testing::TempDir() + "/ix_vdso.json";
  Result r = Ix({"--stats_json=" + json, "--", Prog("vdso_clock"), "20000"});
  ASSERT_EQ(r.code(), 0) << r.err;
  EXPECT_EQ(r.out, "monotonic=1\nfine steps=1\nagrees with the kernel=1\n");
  std::ifstream f(json);
  nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_FALSE(j["syscalls"].contains("gettimeofday"));
  EXPECT_LT(j["total_syscalls"].get<int>(), 20);
  EXPECT_EQ(j["syscalls"]["clock_gettime"]["count"], 1);  // the one the program makes on purpose
  unlink(json.c_str());
}

TEST_F(IxRunTest, ProgramSeesTheGuestRing) {
  Result native = Spawn({Prog("cpl")});
  EXPECT_EQ(native.out, "cpl=3 vmm_ring=-1\n");
  Result ix = Ix({"--ring=3", "--", Prog("cpl")});
  EXPECT_EQ(ix.out, "cpl=3 vmm_ring=3\n") << ix.err;
  if (ThisHost().hardware) {  // glibc runs in guest ring 0 only where ring 0 is native
    Result ring0 = Ix({"--ring=0", "--", Prog("cpl")});
    EXPECT_EQ(ring0.out, "cpl=0 vmm_ring=0\ncr3 read: ok\n") << ring0.err;
  }
}

// AVX2 (and AVX-512) registers survive syscalls, signals whose handlers clobber them, fork and
// thread creation (MXCSR): the guest's XCR0, CR4 and CPUID agree with the host process's.
TEST_F(IxRunTest, VectorRegistersSurviveSyscallsSignalsAndFork) {
  Result native = Spawn({Prog("avx_live")});
  ASSERT_EQ(native.code(), 0) << native.err;
  EXPECT_EQ(native.out.find("CLOBBERED"), std::string::npos) << native.out;
  EXPECT_EQ(native.out.find("CHANGED"), std::string::npos) << native.out;
  ExpectSameAsNative({Prog("avx_live")});
}

TEST_F(IxRunTest, TraceShowsSyscalls) {
  std::string trace = ::testing::TempDir() + "/ix_trace.txt";
  Result r = Ix({"--trace_file=" + trace, "--", Prog("getpid_n"), "3"});
  ASSERT_EQ(r.code(), 0) << r.err;
  std::ifstream f(trace);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string t = ss.str();
  int getpids = 0;
  for (size_t p = 0; (p = t.find("getpid() = ", p)) != std::string::npos; ++p) ++getpids;
  EXPECT_EQ(getpids, 3) << t;
  EXPECT_NE(t.find("exit_group(0) = ?"), std::string::npos) << t;
  unlink(trace.c_str());
}

TEST_F(IxRunTest, PolicyDeniesAndKills) {
  std::string policy = ::testing::TempDir() + "/ix_policy.txt";
  {
    std::ofstream f(policy);
    f << "# test policy\nmkdir deny EACCES\nmkdirat deny EACCES\ngetppid kill\n";
  }
  std::string dir = ::testing::TempDir() + "/ix_policy_dir";
  rmdir(dir.c_str());
  std::string json = ::testing::TempDir() + "/ix_policy.json";
  Result r = Ix({"--policy=" + policy, "--stats_json=" + json, "--", "mkdir", dir});
  EXPECT_NE(r.code(), 0);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "the denied mkdir happened";
  std::ifstream f(json);
  nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_GE(j["total_denied"].get<int>(), 1);
  Result k = Ix({"--policy=" + policy, "--", "sh", "-c", "echo $PPID"});
  EXPECT_EQ(k.code(), 128 + SIGSYS) << k.err;
  EXPECT_NE(k.err.find("getppid"), std::string::npos) << k.err;
  unlink(policy.c_str());
  unlink(json.c_str());
}

// The policy travels sealed (a memfd): rewriting the file, or the program's own IX_* variables,
// changes nothing for the images the program execs later.
TEST_F(IxRunTest, PolicyIsSealedAndBindsLaterImages) {
  std::string policy = ::testing::TempDir() + "/ix_sealed_policy.txt";
  {
    std::ofstream f(policy);
    f << "mkdir deny EACCES\nmkdirat deny EACCES\n";
  }
  std::string dir = ::testing::TempDir() + "/ix_sealed_dir";
  rmdir(dir.c_str());
  Result r = Ix({"--policy=" + policy, "--", "sh", "-c",
                 ": > " + policy + "; cat /proc/self/environ | tr '\\0' '\\n' | grep '^IX_POLICY' | cut -d= -f1; "
                 "IX_POLICY=/dev/null IX_POLICY_FD=0 mkdir " + dir + " || echo refused"});
  EXPECT_EQ(r.out, "IX_POLICY_FD\nrefused\n") << r.err;
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << "the denied mkdir happened";

  std::ofstream(policy) << "mkdir deny EACCES\n";
  Result ring0 = Ix({"--ring=0", "--policy=" + policy, "--", "/bin/true"});
  EXPECT_EQ(ring0.code(), 2);
  EXPECT_NE(ring0.err.find("--policy binds only guest ring 3"), std::string::npos) << ring0.err;
  unlink(policy.c_str());
}

TEST_F(IxRunTest, BadPolicyNamesTheLine) {
  std::string policy = ::testing::TempDir() + "/ix_bad_policy.txt";
  {
    std::ofstream f(policy);
    f << "getpid allow\n\nopenat permit\n";
  }
  Result r = Ix({"--policy=" + policy, "--", "/bin/true"});
  EXPECT_EQ(r.code(), 2);
  EXPECT_NE(r.err.find("ix_bad_policy.txt:3: unknown action 'permit'"), std::string::npos) << r.err;
  unlink(policy.c_str());
}

TEST_F(IxRunTest, MissingOrUnrunnablePrograms) {
  Result missing = UnderIx({"no-such-program-ix"});
  EXPECT_EQ(missing.code(), 127);
  EXPECT_NE(missing.err.find("no-such-program-ix: command not found"), std::string::npos) << missing.err;
  Result nopath = UnderIx({"/nonexistent/prog"});
  EXPECT_EQ(nopath.code(), 127);
  EXPECT_EQ(UnderIx({"/etc/hostname"}).code(), 126);  // not executable
}

// Programs that Linux would start in secure mode (LD_PRELOAD ignored) would escape the guest:
// ix-run refuses them, and an exec from inside fails with EPERM.
TEST_F(IxRunTest, SecureModeProgramsAreRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a set-user-ID copy owned by nobody";
  std::string dir = ::testing::TempDir();
  std::string suid = dir + "/ix_suid_true";
  ASSERT_EQ(system(("cp /bin/true " + suid + " && chown nobody " + suid + " && chmod 4755 " + suid).c_str()), 0);
  Result direct = UnderIx({suid});
  EXPECT_EQ(direct.code(), 126);
  EXPECT_NE(direct.err.find("set-user-ID"), std::string::npos) << direct.err;
  Result inside = UnderIx({"/bin/sh", "-c", suid + "; echo rc=$?"});
  EXPECT_EQ(inside.out, "rc=126\n") << inside.err;
  unlink(suid.c_str());
}

// The VMM execs the descriptor it checked (vmm/exec.cc): the new image keeps the name the kernel
// would give it, fexecve works for dynamic and static programs, and a script is run by its
// interpreter in the guest even when that interpreter is static.
TEST_F(IxRunTest, ExecByDescriptorKeepsNamesAndScripts) {
  std::string dir = ::testing::TempDir();
  std::string link = dir + "/ix_named_cat";
  unlink(link.c_str());
  ASSERT_EQ(symlink("/bin/cat", link.c_str()), 0);
  Result comm = UnderIx({"/bin/sh", "-c", "exec " + link + " /proc/self/comm"});
  EXPECT_EQ(comm.out, "ix_named_cat\n") << comm.err;
  const std::string ring = std::to_string(ThisHost().ring) + "\n";
  Result fexec = UnderIx({"/usr/bin/python3", "-c",
                          "import os, sys\n"
                          "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
                          "os.execve(fd, ['static_prog', 'ring'], dict(os.environ))\n",
                          Prog("static_prog")});
  EXPECT_EQ(fexec.out, ring) << fexec.err;
  Result fexec_dyn = UnderIx({"/usr/bin/python3", "-c",
                              "import os\n"
                              "fd = os.open('/bin/echo', os.O_RDONLY)\n"
                              "os.execve(fd, ['echo', 'hi'], dict(os.environ))\n"});
  EXPECT_EQ(fexec_dyn.out, "hi\n") << fexec_dyn.err;
  std::string script = dir + "/ix_static_interp.sh";
  ASSERT_EQ(system(("printf '#!" + Prog("static_prog") + " ring\\n' > " + script + " && chmod 755 " + script).c_str()), 0);
  Result interp = UnderIx({"/bin/sh", "-c", script + "; echo rc=$?"});
  EXPECT_EQ(interp.out, ring + "rc=0\n") << interp.err;
  std::string shell = dir + "/ix_shell_script.sh";
  ASSERT_EQ(system(("printf '#!/bin/sh\\ncat /proc/$$/comm; echo \"$0 $1\"\\n' > " + shell + " && chmod 755 " + shell).c_str()), 0);
  Result sh = UnderIx({"/bin/sh", "-c", shell + " one"});
  EXPECT_EQ(sh.out, "ix_shell_script\n" + shell + " one\n") << sh.err;
  unlink(link.c_str());
  unlink(script.c_str());
  unlink(shell.c_str());
}

// Static programs come in through ix-exec-static: Debian's static-pie ldconfig, and a static
// test program with a thread, a SIGSEGV handler, and fork + exec of static and dynamic children.
TEST_F(IxRunTest, StaticPrograms) {
  ExpectSameAsNative({"/sbin/ldconfig", "-p"});
  setenv("STATIC_PROG_VALUE", "42", 1);
  ExpectSameAsNative({Prog("static_prog"), "arg"});
  EXPECT_EQ(UnderIx({Prog("static_prog"), "ring"}).out, std::to_string(ThisHost().ring) + "\n");
  std::string json = ::testing::TempDir() + "/ix_static.json";
  Result r = Ix({"--stats_json=" + json, "--", Prog("static_prog"), "arg"});
  ASSERT_EQ(r.code(), 3) << r.err;
  std::ifstream f(json);
  nlohmann::json j = nlohmann::json::parse(f);
  EXPECT_EQ(j["syscalls"]["getpid"]["count"], 100);  // made by the static program in the guest
  EXPECT_GE(j["counters"]["vms_created"].get<int>(), 3);  // and its children got their own VMs
  unlink(json.c_str());
}

TEST_F(IxRunTest, UnusableKvmIsAClearError) {
  Result none = Ix({"--kvm_device=/nonexistent/kvm", "--", "/bin/true"});
  EXPECT_EQ(none.code(), 1);
  EXPECT_NE(none.err.find("cannot use KVM: open /nonexistent/kvm: No such file"), std::string::npos) << none.err;
  Result notkvm = Ix({"--kvm_device=/dev/null", "--", "/bin/true"});
  EXPECT_EQ(notkvm.code(), 1) << notkvm.err;
  // Without permission: as the unprivileged user nobody (/dev/kvm is root-only here).
  struct stat st;
  if (stat("/dev/kvm", &st) == 0 && !(st.st_mode & S_IROTH) && access("/usr/bin/setpriv", X_OK) == 0) {
    Result denied = Spawn({"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                         IxRun(), "--", "/bin/true"});
    EXPECT_EQ(denied.code(), 1) << denied.err;
    EXPECT_NE(denied.err.find("Permission denied"), std::string::npos) << denied.err;
  }
}

TEST_F(IxRunTest, HelpAndInfo) {
  Result help = Ix({"--help"});
  EXPECT_NE((help.out + help.err).find("Usage: ix-run [options] -- PROGRAM"), std::string::npos);
  Result info = Ix({"--info"});
  EXPECT_EQ(info.code(), 0) << info.err;
  EXPECT_NE(info.out.find("KVM backend:"), std::string::npos);
  EXPECT_NE(info.out.find("default ring:"), std::string::npos);
  if (getenv("IX_TEST_VM") != nullptr) {  // the test VM (tests/vm/ixvm) has real SVM
    EXPECT_NE(info.out.find("hardware virtualization"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("default ring:      0"), std::string::npos) << info.out;
  }
  Result bad = Ix({"--ring=2", "--", "/bin/true"});
  EXPECT_EQ(bad.code(), 2);
}

}  // namespace
