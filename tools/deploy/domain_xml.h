// domain_xml: the libvirt domain XML of one ix guest (pure: no libvirt calls, unit-tested).
//
//   ix::deploy::DomainSpec s;
//   s.name = "ix-kv-0"; s.kernel = ".../vmlinuz"; s.initrd = ".../initrd.img";
//   s.forwards = {{22000, 11211}};
//   std::string xml = ix::deploy::BuildDomainXml(s);
//
// The guest boots the kernel directly, logs its serial console to a file, and has
//  - one virtio-net NIC on QEMU's user-mode network (slirp) whose only way in is the listed
//    TCP forwards from host_address (127.0.0.1 by default) to the guest. libvirt 9.0's own
//    <interface type='user'> cannot forward ports (its passt backend, which can, is rejected by
//    Debian 12's libvirt 9.0.0: "Invalid value for attribute 'type' in element 'backend'"), so the
//    NIC is given to QEMU through the qemu:commandline namespace. It is never a libvirt network:
//    nothing is bridged, NATed or left behind on the host;
//  - a virtio-serial channel org.ix.stats (a Unix socket libvirt names), for ix-deploy-agent.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ix::deploy {

struct PortForward {
  uint16_t host_port = 0;
  uint16_t guest_port = 0;
};

struct DomainSpec {
  std::string name;
  std::string virt_type = "qemu";  // "kvm" (hardware virtualization) or "qemu" (TCG)
  uint32_t memory_mib = 512;
  uint32_t vcpus = 1;
  std::string kernel;
  std::string initrd;
  std::string cmdline;       // appended to "console=ttyS0 panic=-1"
  std::string console_log;   // file for the serial console
  std::string host_address = "127.0.0.1";
  std::string guest_ip = "10.0.2.15";  // slirp: network 10.0.2.0/24, host side 10.0.2.2
  std::vector<PortForward> forwards;
  std::string mac = "52:54:00:12:34:56";
};

inline constexpr char kStatsChannel[] = "org.ix.stats";

// The XML for virDomainCreateXML / virDomainDefineXML. Text values are escaped.
std::string BuildDomainXml(const DomainSpec& spec);

// The QEMU -netdev value of the spec's NIC (part of the XML; exposed for tests).
std::string NetdevArg(const DomainSpec& spec);

// s with &, <, >, ' and " escaped for XML text and attributes.
std::string XmlEscape(const std::string& s);

}  // namespace ix::deploy
