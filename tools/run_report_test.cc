// Unit tests of ix-run's report (from a synthetic RunStats) and of the runnable-program check.
#include "tools/run_report.h"

#include <sys/syscall.h>
#include <sys/wait.h>

#include <memory>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tools/elf_check.h"

namespace ix::tools {
namespace {

TEST(RunReport, CountsSortedAndJson) {
  auto s = std::make_unique<RunStats>();
  s->syscalls[SYS_getpid] = 1000;
  s->syscalls[SYS_write] = 3;
  s->denied[SYS_socket] = 2;
  s->exits[0] = 1003;
  s->vms_created = 1;
  for (int i = 0; i < 100; ++i) s->hypercall_cycles.Record(1000 + i);
  RunReport r = BuildReport(*s, 1'000'000'000, "/bin/prog", 7 << 8);  // exited 7, 1 GHz TSC
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.total_syscalls, 1003u);
  EXPECT_EQ(r.total_denied, 2u);
  ASSERT_EQ(r.syscalls.size(), 3u);
  EXPECT_EQ(r.syscalls[0].name, "getpid");
  EXPECT_EQ(r.hypercalls, 100u);
  EXPECT_NEAR(r.p50_ns, 1050, 1050 * 0.04);
  EXPECT_NEAR(r.max_ns, 1099, 1);
  nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["syscalls"]["getpid"]["count"], 1000);
  EXPECT_EQ(j["syscalls"]["socket"]["denied"], 2);
  EXPECT_EQ(j["exit_code"], 7);
  EXPECT_EQ(j["counters"]["vms_created"], 1);
  std::string text = FormatReport(r);
  EXPECT_NE(text.find("getpid"), std::string::npos);
  EXPECT_NE(text.find("exited 7"), std::string::npos);
}

TEST(RunReport, DeathBySignal) {
  RunStats s{};
  RunReport r = BuildReport(s, 1, "p", SIGSEGV);  // raw wait status of a SIGSEGV death
  EXPECT_EQ(r.term_signal, SIGSEGV);
  EXPECT_EQ(r.exit_code, -1);
}

TEST(ElfCheck, DynamicScriptsAndStatic) {
  EXPECT_TRUE(CheckRunnable("/usr/bin/true").ok());
  EXPECT_TRUE(CheckRunnable("/usr/bin/ldd").ok());  // a shell script
  absl::Status st = CheckRunnable("/sbin/ldconfig");  // statically linked on Debian
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(CheckRunnable("/nonexistent/x").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ix::tools
