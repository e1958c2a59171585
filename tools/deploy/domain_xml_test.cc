// Tests of the domain XML builder.
#include "tools/deploy/domain_xml.h"

#include "gtest/gtest.h"

namespace ix::deploy {
namespace {

DomainSpec Spec() {
  DomainSpec s;
  s.name = "ix-kv-0";
  s.kernel = "/d/vmlinuz";
  s.initrd = "/d/initrd.img";
  s.console_log = "/d/ix-kv-0.console.log";
  s.forwards = {{22000, 11211}};
  return s;
}

TEST(DomainXml, TcgDomainWithForwardAndChannel) {
  const std::string xml = BuildDomainXml(Spec());
  EXPECT_NE(xml.find("<domain type='qemu'"), std::string::npos);
  EXPECT_NE(xml.find("<name>ix-kv-0</name>"), std::string::npos);
  EXPECT_NE(xml.find("<cpu mode='maximum'/>"), std::string::npos);
  EXPECT_NE(xml.find("<kernel>/d/vmlinuz</kernel>"), std::string::npos);
  EXPECT_NE(xml.find("hostfwd=tcp:127.0.0.1:22000-10.0.2.15:11211"), std::string::npos);
  EXPECT_NE(xml.find("name='org.ix.stats'"), std::string::npos);
  EXPECT_NE(xml.find("<serial type='file'><source path='/d/ix-kv-0.console.log'/>"), std::string::npos);
  EXPECT_EQ(xml.find("<interface"), std::string::npos);  // never a libvirt network
  EXPECT_EQ(xml.find("network"), std::string::npos);
}

TEST(DomainXml, KvmUsesHostCpu) {
  DomainSpec s = Spec();
  s.virt_type = "kvm";
  const std::string xml = BuildDomainXml(s);
  EXPECT_NE(xml.find("<domain type='kvm'"), std::string::npos);
  EXPECT_NE(xml.find("host-passthrough"), std::string::npos);
}

TEST(DomainXml, NetdevRestrictedWithEveryForward) {
  DomainSpec s = Spec();
  s.forwards.push_back({22001, 80});
  const std::string n = NetdevArg(s);
  EXPECT_EQ(n.rfind("user,id=ixnet0,restrict=on", 0), 0u);
  EXPECT_NE(n.find("hostfwd=tcp:127.0.0.1:22001-10.0.2.15:80"), std::string::npos);
}

TEST(DomainXml, EscapesText) {
  DomainSpec s = Spec();
  s.kernel = "/a&b/<k>'\"";
  EXPECT_NE(BuildDomainXml(s).find("/a&amp;b/&lt;k&gt;&apos;&quot;"), std::string::npos);
  EXPECT_EQ(XmlEscape("plain"), "plain");
}

}  // namespace
}  // namespace ix::deploy
