// domain_xml: builds the libvirt domain XML of an ix guest.
#include "tools/deploy/domain_xml.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ix::deploy {

std::string XmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string NetdevArg(const DomainSpec& spec) {
  // restrict=on: the guest reaches nothing outside (no NAT to the host's networks); the forwards
  // below still come in.
  std::string arg = "user,id=ixnet0,restrict=on,net=10.0.2.0/24,host=10.0.2.2";
  for (const PortForward& f : spec.forwards) {
    absl::StrAppendFormat(&arg, ",hostfwd=tcp:%s:%u-%s:%u", spec.host_address, f.host_port,
                          spec.guest_ip, f.guest_port);
  }
  return arg;
}

std::string BuildDomainXml(const DomainSpec& spec) {
  const std::string e_name = XmlEscape(spec.name);
  std::string cmdline = "console=ttyS0 panic=-1";
  if (!spec.cmdline.empty()) absl::StrAppend(&cmdline, " ", spec.cmdline);
  // TCG: QEMU's 'max' CPU (every feature TCG emulates); KVM: the host's CPU.
  const std::string cpu = spec.virt_type == "kvm" ? "<cpu mode='host-passthrough'/>"
                                                  : "<cpu mode='maximum'/>";
  std::string xml = absl::StrFormat(
      "<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
      "  <name>%s</name>\n"
      "  <description>ix-deploy guest</description>\n"
      "  <memory unit='MiB'>%u</memory>\n"
      "  <vcpu>%u</vcpu>\n"
      "  %s\n"
      "  <os>\n"
      "    <type arch='x86_64' machine='q35'>hvm</type>\n"
      "    <kernel>%s</kernel>\n"
      "    <initrd>%s</initrd>\n"
      "    <cmdline>%s</cmdline>\n"
      "  </os>\n"
      "  <on_poweroff>destroy</on_poweroff>\n"
      "  <on_reboot>destroy</on_reboot>\n"
      "  <on_crash>destroy</on_crash>\n"
      "  <devices>\n"
      "    <serial type='file'><source path='%s'/><target port='0'/></serial>\n"
      "    <channel type='unix'><source mode='bind'/><target type='virtio' name='%s'/></channel>\n"
      "    <memballoon model='none'/>\n"
      "  </devices>\n",
      XmlEscape(spec.virt_type), e_name, spec.memory_mib, spec.vcpus, cpu, XmlEscape(spec.kernel),
      XmlEscape(spec.initrd), XmlEscape(cmdline), XmlEscape(spec.console_log), kStatsChannel);
  // An explicit PCI address: libvirt's own devices are placed without knowing about this one.
  absl::StrAppendFormat(
      &xml,
      "  <qemu:commandline>\n"
      "    <qemu:arg value='-netdev'/>\n"
      "    <qemu:arg value='%s'/>\n"
      "    <qemu:arg value='-device'/>\n"
      "    <qemu:arg value='virtio-net-pci,netdev=ixnet0,mac=%s,bus=pcie.0,addr=0x10'/>\n"
      "  </qemu:commandline>\n"
      "</domain>\n",
      XmlEscape(NetdevArg(spec)), XmlEscape(spec.mac));
  return xml;
}

}  // namespace ix::deploy
