// Tests for ix-load's server address parsing and the loopback-only sending policy.
#include "bench/load/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "gtest/gtest.h"

namespace ix::load {
namespace {

TEST(TargetTest, ParsesIpv4Ipv6AndLocalhost) {
  absl::StatusOr<Target> t = ParseTarget("127.0.0.1:11211");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->addr.ss_family, AF_INET);
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&t->addr)->sin_port), 11211);
  EXPECT_EQ(t->addr_len, sizeof(sockaddr_in));
  t = ParseTarget("[::1]:80");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->addr.ss_family, AF_INET6);
  EXPECT_EQ(t->addr_len, sizeof(sockaddr_in6));
  t = ParseTarget("localhost:9");
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(IsLoopback(*t));
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                          "example.com:80", "[::1]80", "[::1", "1.2.3:5", "127.0.0.1:x"}) {
    EXPECT_FALSE(ParseTarget(bad).ok()) << bad;
  }
}

TEST(TargetTest, LoopbackRanges) {
  EXPECT_TRUE(IsLoopback(*ParseTarget("127.0.0.1:1")));
  EXPECT_TRUE(IsLoopback(*ParseTarget("127.255.3.4:1")));
  EXPECT_TRUE(IsLoopback(*ParseTarget("[::1]:1")));
  EXPECT_TRUE(IsLoopback(*ParseTarget("[::ffff:127.0.0.2]:1")));
  EXPECT_FALSE(IsLoopback(*ParseTarget("128.0.0.1:1")));
  EXPECT_FALSE(IsLoopback(*ParseTarget("10.0.0.1:1")));
  EXPECT_FALSE(IsLoopback(*ParseTarget("[::2]:1")));
  EXPECT_FALSE(IsLoopback(*ParseTarget("[::ffff:10.0.0.1]:1")));
  EXPECT_FALSE(IsLoopback(*ParseTarget("0.0.0.0:1")));
}

TEST(TargetTest, PolicyRefusesNonLoopback) {
  EXPECT_TRUE(CheckTargetAllowed(*ParseTarget("127.0.0.1:1"), false).ok());
  EXPECT_TRUE(CheckTargetAllowed(*ParseTarget("[::1]:1"), false).ok());
  for (const char* addr : {"10.1.2.3:80", "192.168.1.1:80", "8.8.8.8:53", "[2001:db8::1]:80"}) {
    const absl::Status s = CheckTargetAllowed(*ParseTarget(addr), false);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << addr;
    EXPECT_NE(s.message().find("allow_netns_address"), std::string::npos);
  }
  // Even with the flag, a routed public address is never directly attached here.
  EXPECT_FALSE(CheckTargetAllowed(*ParseTarget("8.8.8.8:53"), true).ok());
  EXPECT_FALSE(CheckTargetAllowed(*ParseTarget("[2001:db8::1]:80"), true).ok());
  EXPECT_TRUE(CheckTargetAllowed(*ParseTarget("127.0.0.1:1"), true).ok());
}

}  // namespace
}  // namespace ix::load
