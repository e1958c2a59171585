// Tests of the agent's answers over a fake guest root.
#include "tools/deploy/guest_report.h"

#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ix::deploy {
namespace {

void Put(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
}

TEST(GuestReport, StatsFromFiles) {
  const std::string root = testing::TempDir() + "/guest_report_root";
  std::filesystem::remove_all(root);
  Put(root + "/run/ix/ixd.pid", "5\n");
  Put(root + "/proc/5/stat", "5 (ixd) S 1 5 5 0\n");
  Put(root + "/run/ix/app.pid", "999999999\n");
  Put(root + "/run/ix/net", "eth0 10.0.2.15/24 10.0.2.2\n");
  Put(root + "/var/log/ixd.log", "[ix nic] eth0: copy mode, generic XDP\nixd: serving /run/ix/ixd.sock\n"
                                 "ixd: attached app 1 'ix-kv' (pid 5)\n");
  Put(root + "/sys/class/net/eth0/statistics/rx_packets", "42\n");
  Put(root + "/proc/uptime", "12.5 3.0\n");
  Put(root + "/proc/meminfo", "MemTotal: 100 kB\nMemAvailable: 77 kB\n");
  nlohmann::json j = nlohmann::json::parse(Answer("stats\n", root));
  EXPECT_EQ(j["ixd"]["running"], true);
  EXPECT_EQ(j["ixd"]["serving"], true);
  EXPECT_EQ(j["ixd"]["attached"], 1);
  EXPECT_EQ(j["ixd"]["nic_mode"], "[ix nic] eth0: copy mode, generic XDP");
  EXPECT_EQ(j["app"]["running"], false);
  EXPECT_EQ(j["nic"]["rx_packets"], 42);
  EXPECT_EQ(j["nic"]["ip"], "10.0.2.15/24");
  EXPECT_EQ(j["mem_available_kb"], 77);
  EXPECT_DOUBLE_EQ(j["uptime_s"].get<double>(), 12.5);
  nlohmann::json logs = nlohmann::json::parse(Answer("logs", root));
  EXPECT_NE(logs["ixd"].get<std::string>().find("serving"), std::string::npos);
  EXPECT_TRUE(nlohmann::json::parse(Answer("bogus", root)).contains("error"));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace ix::deploy
