// ix-run: runs a program inside a KVM guest that mirrors its address space, every syscall a
// hypercall checked by the VMM. See `ix-run --help` and README.md.
//
// ix-run itself stays outside: it checks KVM and the program, sets up the statistics memfd and the
// environment for libixrun.so (which the program preloads and which enters the guest before the
// program's code runs), then waits and reports. The exit status is the program's, 128+N if it died
// of signal N; 127 if it cannot be found, 126 if it cannot be run, 1 if KVM is unusable, 2 for bad
// options or a bad policy file.
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "ix/run_stats.h"
#include "tools/elf_check.h"
#include "tools/run_report.h"
#include "vmm/cpu_features.h"
#include "vmm/exec_target.h"
#include "vmm/guest.h"
#include "vmm/kvm.h"
#include "vmm/policy.h"

ABSL_FLAG(std::string, ring, "auto",
          "guest ring for the program: 0 (Dune semantics, the default with hardware "
          "virtualization), 3 (over a minimal ring-0 runtime, the default where guest ring 0 is "
          "emulated, as with kvm_pvm), or auto");
ABSL_FLAG(bool, stats, false, "print per-syscall counts and hypercall latency percentiles at exit");
ABSL_FLAG(std::string, stats_json, "", "also write the statistics as JSON to this file");
ABSL_FLAG(bool, trace, false, "print a line per syscall (strace-like) to stderr");
ABSL_FLAG(std::string, trace_file, "", "write the syscall trace to this file instead of stderr");
ABSL_FLAG(std::string, policy, "",
          "syscall policy file: lines 'NAME allow|deny [ERRNO]|kill' and 'default ...' (see README)");
ABSL_FLAG(bool, info, false, "describe this host's KVM and the mode ix-run would use, then exit");
ABSL_FLAG(std::string, kvm_device, "/dev/kvm", "the KVM device to use");

namespace {

constexpr int kExitKvm = 1, kExitUsage = 2, kExitCannotRun = 126, kExitNotFound = 127;

[[noreturn]] void Die(int code, const std::string& msg) {
  fprintf(stderr, "ix-run: %s\n", msg.c_str());
  exit(code);
}

// The preload library: $IX_PRELOAD_LIB, else next to ix-run in the build tree or installed.
std::string FindPreloadLibrary() {
  if (const char* env = getenv("IX_PRELOAD_LIB"); env && *env) return env;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = 0;
  std::string dir = dirname(exe);
  for (const char* rel : {"/../vmm/libixrun.so", "/../lib/x86_64-linux-gnu/libixrun.so",
                          "/../lib/libixrun.so"}) {
    std::string p = dir + rel;
    char real[4096];
    if (realpath(p.c_str(), real) != nullptr) return real;
  }
  return "";
}

// ix-exec-static, which brings static programs under ix: $IX_STATIC_LOADER, else next to ix-run.
std::string FindStaticLoader() {
  if (const char* env = getenv("IX_STATIC_LOADER"); env && *env) return env;
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = 0;
  std::string p = std::string(dirname(exe)) + "/ix-exec-static";
  return access(p.c_str(), X_OK) == 0 ? p : "";
}

// Like execvp's search: the path to exec, or exits 127/126 with the shell's messages.
std::string ResolveProgram(const std::string& name) {
  auto check = [](const std::string& p) -> int {
    struct stat st;
    if (stat(p.c_str(), &st) != 0) return ENOENT;
    if (S_ISDIR(st.st_mode)) return EISDIR;
    if (access(p.c_str(), X_OK) != 0) return EACCES;
    return 0;
  };
  if (name.find('/') != std::string::npos) {
    int e = check(name);
    if (e == ENOENT) Die(kExitNotFound, name + ": No such file or directory");
    if (e) Die(kExitCannotRun, name + ": " + strerror(e));
    return name;
  }
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  int last = ENOENT;
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string d = dirs.substr(start, end - start);
    std::string p = (d.empty() ? "." : d) + "/" + name;
    int e = check(p);
    if (e == 0) return p;
    if (e != ENOENT) last = e;
    start = end + 1;
  }
  if (last == ENOENT) Die(kExitNotFound, name + ": command not found");
  Die(kExitCannotRun, name + ": " + strerror(last));
}

int ParseRing(const std::string& s) {
  if (s == "auto") return -1;
  if (s == "0") return 0;
  if (s == "3") return 3;
  Die(kExitUsage, "--ring must be 0, 3 or auto, not '" + s + "'");
}

int PrintInfo(const std::string& device, int ring_flag) {
  absl::StatusOr<ix::vmm::KvmSystem> kvm = ix::vmm::KvmSystem::Open(device.c_str());
  if (!kvm.ok()) Die(kExitKvm, "cannot use KVM: " + std::string(kvm.status().message()));
  absl::StatusOr<ix::vmm::KvmInfo> info = kvm->Probe();
  if (!info.ok()) Die(kExitKvm, "cannot probe KVM: " + std::string(info.status().message()));
  int def = ix::vmm::DefaultRing(*info);
  printf("KVM device:        %s (API version %d)\n", device.c_str(), info->api_version);
  printf("KVM backend:       %s\n", info->pvm ? "kvm_pvm (paravirtual; guest ring 0 is emulated)"
                                               : "hardware virtualization (guest ring 0 is native)");
  printf("max vCPUs:         %d\n", info->max_vcpus);
  printf("max memory slots:  %d\n", info->max_memslots);
  printf("default ring:      %d (%s)\n", def, def == 3 ? "program in ring 3 over ix's ring-0 runtime"
                                                       : "program in ring 0, Dune semantics");
  printf("ring for this run: %d%s\n", ring_flag == -1 ? def : ring_flag, ring_flag == -1 ? " (auto)" : "");
  absl::StatusOr<std::vector<kvm_cpuid_entry2>> cpuid = kvm->SupportedCpuid();
  if (cpuid.ok()) {
    // The same choice every vCPU gets (vmm/cpu_features.h).
    uint64_t host = ix::vmm::HostXcr0();
    ix::vmm::GuestFpuConfig fpu = ix::vmm::FitCpuToHost(cpuid->data(), static_cast<int>(cpuid->size()));
    if (fpu.osxsave) {
      printf("guest XCR0:        %#llx (host %#llx%s)\n", static_cast<unsigned long long>(fpu.xcr0),
             static_cast<unsigned long long>(host), fpu.dropped ? ", some components KVM cannot give" : "");
    } else {
      printf("guest XCR0:        not set (host XSAVE %s)\n", host ? "enabled, KVM offers none" : "disabled");
    }
  }
  std::string lib = FindPreloadLibrary();
  printf("libixrun.so:       %s\n", lib.empty() ? "NOT FOUND (set IX_PRELOAD_LIB)" : lib.c_str());
  std::string loader = FindStaticLoader();
  printf("ix-exec-static:    %s\n", loader.empty() ? "NOT FOUND (set IX_STATIC_LOADER)" : loader.c_str());
  return 0;
}

int MoveHigh(int fd) {
  int hi = fcntl(fd, F_DUPFD, 900);
  if (hi < 0) return fd;
  close(fd);
  return hi;
}

pid_t g_child = -1;
void Forward(int sig) {
  if (g_child > 0) kill(g_child, sig);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "runs PROGRAM inside a KVM guest that mirrors its address space; every syscall is a "
      "hypercall.\n\nUsage: ix-run [options] -- PROGRAM [ARGS...]\n       ix-run --info");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  int ring = ParseRing(absl::GetFlag(FLAGS_ring));
  std::string device = absl::GetFlag(FLAGS_kvm_device);
  if (absl::GetFlag(FLAGS_info)) return PrintInfo(device, ring);
  if (args.size() < 2) Die(kExitUsage, "no program given (usage: ix-run [options] -- PROGRAM [ARGS...])");

  // The policy is read once, here, and handed on sealed (policy.h): never re-read by path.
  int policy_fd = -1;
  if (std::string path = absl::GetFlag(FLAGS_policy); !path.empty()) {
    absl::StatusOr<std::string> text = ix::vmm::ReadPolicyFile(path);
    if (!text.ok()) Die(kExitUsage, std::string(text.status().message()));
    absl::StatusOr<ix::vmm::Policy> p = ix::vmm::ParsePolicy(*text, path);
    if (!p.ok()) Die(kExitUsage, std::string(p.status().message()));
    if (ring == 0 && !ix::vmm::AllowsEverything(*p)) {
      Die(kExitUsage, "--policy binds only guest ring 3: code in guest ring 0 can rewrite the VMM's own state, "
                      "policy included (use --ring 3, or leave --ring at auto)");
    }
    absl::StatusOr<int> fd = ix::vmm::SealPolicy(*text);
    if (!fd.ok()) Die(kExitCannotRun, std::string(fd.status().message()));
    policy_fd = MoveHigh(*fd);
  }
  {
    absl::StatusOr<ix::vmm::KvmSystem> kvm = ix::vmm::KvmSystem::Open(device.c_str());
    if (!kvm.ok()) {
      Die(kExitKvm, "cannot use KVM: " + std::string(kvm.status().message()) +
                        " (ix-run needs read-write access to " + device + ")");
    }
  }
  std::string program = ResolveProgram(args[1]);
  absl::Status elf = ix::tools::CheckRunnable(program);
  const bool is_static = absl::IsFailedPrecondition(elf);
  if (!elf.ok() && !is_static) Die(kExitCannotRun, program + ": " + std::string(elf.message()));
  const ix::vmm::ExecTarget target = ix::vmm::ClassifyExecTarget(AT_FDCWD, program.c_str(), 0);
  if (target == ix::vmm::ExecTarget::kEscapes) {
    Die(kExitCannotRun, program + ": set-user-ID, set-group-ID or file capabilities, an ELF interpreter other " +
                            "than glibc's, or a script whose interpreter is one of those or static: Linux would " +
                            "start it without ix's preloaded VMM (for a script, run its interpreter: " +
                            "ix-run -- INTERPRETER " + program + ")");
  }
  if (target == ix::vmm::ExecTarget::kForeign || target == ix::vmm::ExecTarget::kUnknown) {
    Die(kExitCannotRun, program + ": not a format ix can keep in the guest (another ELF class or machine, or " +
                            "neither ELF nor a #! script)");
  }
  std::string lib = FindPreloadLibrary();
  if (lib.empty()) Die(kExitCannotRun, "cannot find libixrun.so (set IX_PRELOAD_LIB)");
  std::string loader = FindStaticLoader();
  if (is_static && loader.empty()) {
    Die(kExitCannotRun, program + ": statically linked, and ix-exec-static was not found (set IX_STATIC_LOADER)");
  }

  // Statistics shared with every process of the program (fork and exec keep the memfd).
  bool want_stats = absl::GetFlag(FLAGS_stats) || !absl::GetFlag(FLAGS_stats_json).empty();
  int stats_fd = MoveHigh(memfd_create("ix-run-stats", 0));
  if (stats_fd < 0 || ftruncate(stats_fd, sizeof(ix::RunStats)) != 0) Die(kExitCannotRun, "memfd_create failed");
  auto* stats = static_cast<ix::RunStats*>(
      mmap(nullptr, sizeof(ix::RunStats), PROT_READ | PROT_WRITE, MAP_SHARED, stats_fd, 0));
  if (stats == MAP_FAILED) Die(kExitCannotRun, "mmap of the statistics memfd failed");
  stats->magic = ix::kRunStatsMagic;
  stats->version = ix::kRunStatsVersion;

  int trace_fd = -1;
  if (!absl::GetFlag(FLAGS_trace_file).empty()) {
    trace_fd = open(absl::GetFlag(FLAGS_trace_file).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (trace_fd < 0) Die(kExitUsage, "cannot open --trace_file: " + std::string(strerror(errno)));
    trace_fd = MoveHigh(trace_fd);
  } else if (absl::GetFlag(FLAGS_trace)) {
    trace_fd = MoveHigh(dup(2));
  }

  uint64_t tsc_hz = ix::tools::MeasureTscHz();
  g_child = fork();
  if (g_child < 0) Die(kExitCannotRun, std::string("fork: ") + strerror(errno));
  if (g_child == 0) {
    std::string preload = lib;
    if (const char* old = getenv("LD_PRELOAD"); old && *old) preload += std::string(":") + old;
    setenv("LD_PRELOAD", preload.c_str(), 1);
    setenv("IX_RUN", "1", 1);
    setenv("IX_RING", absl::GetFlag(FLAGS_ring).c_str(), 1);
    setenv("IX_STATS_FD", std::to_string(stats_fd).c_str(), 1);
    setenv("IX_KVM_DEVICE", device.c_str(), 1);
    if (trace_fd >= 0) setenv("IX_TRACE_FD", std::to_string(trace_fd).c_str(), 1);
    unsetenv("IX_POLICY");
    if (policy_fd >= 0) setenv("IX_POLICY_FD", std::to_string(policy_fd).c_str(), 1);
    if (!loader.empty()) setenv("IX_STATIC_LOADER", loader.c_str(), 1);
    std::vector<char*> argv_exec;
    if (is_static) {  // ix-exec-static PROGRAM ARGV0 ARGS...
      argv_exec.push_back(loader.data());
      argv_exec.push_back(program.data());
    }
    argv_exec.insert(argv_exec.end(), args.begin() + 1, args.end());
    argv_exec.push_back(nullptr);
    execv(is_static ? loader.c_str() : program.c_str(), argv_exec.data());
    fprintf(stderr, "ix-run: %s: %s\n", program.c_str(), strerror(errno));
    _exit(errno == ENOENT ? kExitNotFound : kExitCannotRun);
  }
  signal(SIGINT, SIG_IGN);  // the terminal sends these to the program too
  signal(SIGQUIT, SIG_IGN);
  for (int sig : {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2}) signal(sig, Forward);
  int status = 0;
  while (waitpid(g_child, &status, 0) < 0 && errno == EINTR) {
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (want_stats) {
    ix::tools::RunReport report = ix::tools::BuildReport(*stats, tsc_hz, program, status);
    if (absl::GetFlag(FLAGS_stats)) fputs(ix::tools::FormatReport(report).c_str(), stderr);
    std::string json_path = absl::GetFlag(FLAGS_stats_json);
    if (!json_path.empty()) {
      absl::Status s = ix::tools::WriteReportJson(report, json_path);
      if (!s.ok()) fprintf(stderr, "ix-run: %s\n", std::string(s.message()).c_str());
    }
  }
  return code;
}
