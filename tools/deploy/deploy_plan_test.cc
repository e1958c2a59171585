// Tests of option checks, naming, virt type choice and the state file.
#include "tools/deploy/deploy_plan.h"

#include "gtest/gtest.h"

namespace ix::deploy {
namespace {

const BuildPaths kPaths{"/b/ix-kv", "/b/ix-echo-app"};

TEST(PlanUp, KvTwoGuests) {
  UpOptions o;
  o.app = "ix-kv";
  o.count = 2;
  absl::StatusOr<Plan> p = PlanUp(o, kPaths);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->deployment, "kv");
  EXPECT_EQ(p->app_path, "/b/ix-kv");
  ASSERT_EQ(p->domains.size(), 2u);
  EXPECT_EQ(p->domains[0].name, "ix-kv-0");
  EXPECT_EQ(p->domains[1].name, "ix-kv-1");
  EXPECT_EQ(p->domains[1].host_port, 22001);
  EXPECT_EQ(p->domains[0].guest_port, 11211);
  EXPECT_EQ(p->app_args[0], "--mode=ixd");
}

TEST(PlanUp, EchoAndOwnProgram) {
  UpOptions o;
  o.app = "ix-echo-app";
  o.app_args = {"--udp=false"};
  absl::StatusOr<Plan> p = PlanUp(o, kPaths);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->domains[0].guest_port, 7);
  EXPECT_EQ(p->app_args.back(), "--udp=false");
  o.app = "/opt/my.server";
  EXPECT_EQ(PlanUp(o, kPaths).status().code(), absl::StatusCode::kInvalidArgument);  // no port
  o.guest_port = 8080;
  p = PlanUp(o, kPaths);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->deployment, "my-server");
  EXPECT_TRUE(p->app_args.size() == 1);
}

TEST(PlanUp, RejectsBadOptions) {
  UpOptions o;
  EXPECT_FALSE(PlanUp(o, kPaths).ok());  // no app
  o.app = "ix-kv";
  o.count = 0;
  EXPECT_FALSE(PlanUp(o, kPaths).ok());
  o.count = 2;
  o.port_base = 65535;
  EXPECT_FALSE(PlanUp(o, kPaths).ok());
  o.port_base = 22000;
  o.virt_type = "xen";
  EXPECT_FALSE(PlanUp(o, kPaths).ok());
  o.virt_type = "auto";
  o.name = "bad name";
  EXPECT_FALSE(PlanUp(o, kPaths).ok());
  o.name = "";
  o.app = "memcached";  // neither known nor a path
  EXPECT_FALSE(PlanUp(o, kPaths).ok());
}

TEST(ChooseVirtType, AutoNeedsHardwareVirt) {
  EXPECT_EQ(*ChooseVirtType("auto", true, true), "kvm");
  EXPECT_EQ(*ChooseVirtType("auto", true, false), "qemu");  // kvm_pvm: ring 0 emulated
  EXPECT_EQ(*ChooseVirtType("auto", false, true), "qemu");
  EXPECT_EQ(*ChooseVirtType("qemu", true, true), "qemu");
  EXPECT_FALSE(ChooseVirtType("kvm", false, true).ok());
}

TEST(State, RoundTrip) {
  DeployState s{"kv", "qemu:///system", "ix-kv", "qemu", "/var/lib/ix-deploy/kv",
                {{"ix-kv-0", 22000, 11211, "/c0"}, {"ix-kv-1", 22001, 11211, "/c1"}}};
  absl::StatusOr<DeployState> back = StateFromJson(StateToJson(s));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->dir, s.dir);
  ASSERT_EQ(back->domains.size(), 2u);
  EXPECT_EQ(back->domains[1].name, "ix-kv-1");
  EXPECT_EQ(back->domains[1].host_port, 22001);
  EXPECT_FALSE(StateFromJson("{").ok());
  EXPECT_FALSE(StateFromJson("{\"domains\": []}").ok());
}

}  // namespace
}  // namespace ix::deploy
