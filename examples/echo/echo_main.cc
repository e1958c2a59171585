// ix-echo: a TCP/UDP echo server or tiny HTTP server on the ix stack in library mode, over an
// AF_XDP queue of one interface. Run it in the network namespace that holds the interface; the
// interface should carry no Linux IP address (the stack owns the address given by --ip).
//
//   ip netns exec NS ix-echo --iface=veth0 --ip=10.0.0.1 --port=7 --mode=echo
//
// Prints "ix-echo: ready <ip>:<port>" on stdout once it serves. SIGINT/SIGTERM: prints the
// non-zero counters to stderr and exits 0. SIGUSR1: prints them (and the open connections) and
// goes on. Bad flags: a message on stderr and exit status 2.
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "dataplane/core/idle_poller.h"
#include "dataplane/core/mbuf.h"
#include "dataplane/core/stack.h"
#include "dataplane/core/stack_fault_queue.h"
#include "dataplane/nic/af_xdp.h"
#include "common/strict_flags.h"
#include "examples/echo/echo_server.h"

ABSL_FLAG(std::string, iface, "", "network interface to open with AF_XDP (required)");
ABSL_FLAG(std::string, ip, "", "IPv4 address the stack owns, A.B.C.D (required)");
ABSL_FLAG(int, prefix, 24, "prefix length of the on-link network");
ABSL_FLAG(int, port, 7, "TCP (and, in echo mode, UDP) port to serve");
ABSL_FLAG(std::string, mode, "echo", "echo: TCP and UDP echo; http: tiny HTTP/1.1 responder");
ABSL_FLAG(int, batch, 64, "adaptive batching bound: most frames taken per iteration (1..1024)");
ABSL_FLAG(int, queue, 0, "interface queue id");
ABSL_FLAG(std::string, xdp_mode, "auto", "AF_XDP bind mode: auto, copy or zerocopy");
ABSL_FLAG(int, max_conns, 16384, "TCP connection table size");
ABSL_FLAG(int, duration_s, 0, "exit after this many seconds (0: run until SIGINT/SIGTERM)");
ABSL_FLAG(int, spin_us, 50, "busy-poll this long after the last work before sleeping in poll()");
ABSL_FLAG(int, buffers, 16384, "packet buffers in the pool (2 KiB each)");
ABSL_FLAG(int, rx_ring, 8192,
          "AF_XDP RX and fill ring size (frames the kernel may queue for us; a power of two)");
ABSL_FLAG(int, tcp_buffer_kib, 256, "TCP send and receive buffer per connection, KiB");
ABSL_FLAG(bool, tcp_sack, true, "offer and use TCP selective acknowledgements (RFC 2018/6675)");
ABSL_FLAG(int, reasm_datagrams, 64,
          "IPv4 datagrams reassembled from fragments at once (0: fragments dropped; 1..1024)");
ABSL_FLAG(std::string, impair_rx, "",
          "testing: netem-like impairment of received frames, e.g. "
          "loss=1,duplicate=1,reorder=5,delay_us=1000 (percent; see stack_fault_queue.h)");
ABSL_FLAG(std::string, impair_tx, "",
          "testing: impairment of sent frames: loss=P,duplicate=P (percent)");

namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_dump{false};

void OnStop(int) { g_stop.store(true); }
void OnDump(int) { g_dump.store(true); }

[[noreturn]] void Usage(const std::string& message) { ix::ExitBadFlag("ix-echo", message); }

absl::StatusOr<ix::net::MacAddress> InterfaceMac(const std::string& ifname) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrFormat("socket: %s", strerror(errno)));
  ifreq ifr{};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname.c_str());
  const int r = ioctl(fd, SIOCGIFHWADDR, &ifr);
  const int err = errno;
  close(fd);
  if (r != 0) {
    return absl::NotFoundError(
        absl::StrFormat("ioctl(SIOCGIFHWADDR, %s): %s", ifname, strerror(err)));
  }
  return ix::net::MacAddress::FromBytes(reinterpret_cast<const uint8_t*>(ifr.ifr_hwaddr.sa_data));
}

void PrintCounters(const ix::dp::Stack& stack, const ix::examples::EchoServer& server,
                   const ix::dp::IdlePoller& idle, const ix::dp::FaultQueue* faults,
                   const ix::nic::AfXdpQueue& xsk) {
  std::string out;
  if (absl::StatusOr<ix::nic::XskKernelStats> k = xsk.KernelStats(); k.ok()) {
    for (const auto& [name, value] : std::vector<std::pair<const char*, uint64_t>>{
             {"rx_dropped", k->rx_dropped}, {"rx_ring_full", k->rx_ring_full},
             {"rx_fill_ring_empty_descs", k->rx_fill_ring_empty_descs},
             {"rx_invalid_descs", k->rx_invalid_descs}, {"tx_invalid_descs", k->tx_invalid_descs},
             {"tx_ring_empty_descs", k->tx_ring_empty_descs}}) {
      if (value != 0) absl::StrAppendFormat(&out, "  xsk.%s %u\n", name, value);
    }
  }
  if (faults != nullptr) {
    const ix::dp::FaultQueueCounters& f = faults->counters();
    for (const auto& [name, value] : std::vector<std::pair<const char*, uint64_t>>{
             {"rx_lost", f.rx_lost}, {"rx_duplicated", f.rx_duplicated},
             {"rx_delayed", f.rx_delayed}, {"rx_reordered", f.rx_reordered},
             {"rx_over_limit", f.rx_over_limit}, {"tx_lost", f.tx_lost},
             {"tx_duplicated", f.tx_duplicated}}) {
      if (value != 0) absl::StrAppendFormat(&out, "  impair.%s %u\n", name, value);
    }
  }
  stack.ForEachCounter([&](absl::string_view name, uint64_t value) {
    if (value != 0) absl::StrAppendFormat(&out, "  %s %u\n", name, value);
  });
  const ix::examples::EchoServerCounters& c = server.counters();
  for (const auto& [name, value] :
       std::vector<std::pair<const char*, uint64_t>>{{"accepted", c.accepted},
                                                     {"closed", c.closed},
                                                     {"resets", c.resets},
                                                     {"bytes_echoed", c.bytes_echoed},
                                                     {"udp_echoed", c.udp_echoed},
                                                     {"udp_send_failed", c.udp_send_failed},
                                                     {"http_requests", c.http_requests},
                                                     {"http_bad_requests", c.http_bad_requests},
                                                     {"idle_sleeps", idle.sleeps()}}) {
    if (value != 0) absl::StrAppendFormat(&out, "  echo.%s %u\n", name, value);
  }
  fprintf(stderr, "ix-echo: open_connections %zu tcp_connections %zu\n%s",
          server.open_connections(), stack.tcp_connections(), out.c_str());
  fflush(stderr);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ix-echo --iface=IF --ip=A.B.C.D [--prefix=24] [--port=7] [--mode=echo|http] [--batch=64]\n"
      "        [--queue=0] [--xdp_mode=auto|copy|zerocopy] [--max_conns=16384] [--duration_s=0]\n"
      "        [--tcp_sack=true|false] [--reasm_datagrams=64]\n"
      "A TCP/UDP echo or tiny HTTP server on the ix stack (library mode, AF_XDP). Run it in the\n"
      "network namespace of the interface; give the interface no Linux IP address.\n"
      "At exit (SIGINT/SIGTERM) and on SIGUSR1 it prints its non-zero counters on stderr, one\n"
      "'  name value' line each (e.g. '  tcp.retransmits 12'); missing ones are 0.");
  // --help lists this file's flags (absl matches the program name against file names by default).
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view path) {
    return absl::StrContains(path, "echo_main");
  };
  absl::SetFlagsUsageConfig(usage);
  ix::CheckFlagsOrExit("ix-echo", argc, argv);
  absl::ParseCommandLine(argc, argv);

  const std::string iface = absl::GetFlag(FLAGS_iface);
  if (iface.empty()) Usage("--iface is required");
  absl::StatusOr<ix::net::Ipv4Address> ip = ix::net::ParseIpv4Address(absl::GetFlag(FLAGS_ip));
  if (!ip.ok()) Usage(absl::StrFormat("--ip: %s", ip.status().message()));
  const int prefix = absl::GetFlag(FLAGS_prefix);
  if (prefix < 1 || prefix > 32) Usage("--prefix must be in 1..32");
  const int port = absl::GetFlag(FLAGS_port);
  if (port < 1 || port > 65535) Usage("--port must be in 1..65535");
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode != "echo" && mode != "http") Usage("--mode must be echo or http");
  const int batch = absl::GetFlag(FLAGS_batch);
  if (batch < 1 || batch > 1024) Usage("--batch must be in 1..1024");
  const int queue_id = absl::GetFlag(FLAGS_queue);
  if (queue_id < 0) Usage("--queue must be >= 0");
  const std::string xdp_mode = absl::GetFlag(FLAGS_xdp_mode);
  ix::nic::XskCopyMode copy_mode = ix::nic::XskCopyMode::kAuto;
  if (xdp_mode == "copy") {
    copy_mode = ix::nic::XskCopyMode::kCopy;
  } else if (xdp_mode == "zerocopy") {
    copy_mode = ix::nic::XskCopyMode::kZeroCopy;
  } else if (xdp_mode != "auto") {
    Usage("--xdp_mode must be auto, copy or zerocopy");
  }
  const int max_conns = absl::GetFlag(FLAGS_max_conns);
  if (max_conns < 1 || max_conns > (1 << 24) - 1) Usage("--max_conns must be in 1..16777215");
  const int reasm = absl::GetFlag(FLAGS_reasm_datagrams);
  if (reasm < 0 || reasm > 1024) Usage("--reasm_datagrams must be in 0..1024");
  const int duration_s = absl::GetFlag(FLAGS_duration_s);
  if (duration_s < 0) Usage("--duration_s must be >= 0");
  const int buffers = absl::GetFlag(FLAGS_buffers);
  if (buffers < 1024 || buffers > (1 << 22)) Usage("--buffers must be in 1024..4194304");
  const int rx_ring = absl::GetFlag(FLAGS_rx_ring);
  if (rx_ring < 64 || rx_ring > 65536 || (rx_ring & (rx_ring - 1)) != 0) {
    Usage("--rx_ring must be a power of two in 64..65536");
  }
  if (rx_ring > buffers / 2) Usage("--rx_ring must be at most half of --buffers");
  const int tcp_kib = absl::GetFlag(FLAGS_tcp_buffer_kib);
  if (tcp_kib < 1 || tcp_kib > 65536) Usage("--tcp_buffer_kib must be in 1..65536");

  absl::StatusOr<ix::dp::LinkImpairment> impair_rx =
      ix::dp::ParseLinkImpairment(absl::GetFlag(FLAGS_impair_rx));
  if (!impair_rx.ok()) Usage(absl::StrFormat("--impair_rx: %s", impair_rx.status().message()));
  absl::StatusOr<ix::dp::LinkImpairment> impair_tx =
      ix::dp::ParseLinkImpairment(absl::GetFlag(FLAGS_impair_tx));
  if (!impair_tx.ok()) Usage(absl::StrFormat("--impair_tx: %s", impair_tx.status().message()));
  if (impair_tx->reorder_pct > 0 || impair_tx->delay_ns > 0) {
    Usage("--impair_tx supports loss and duplicate only");
  }

  absl::StatusOr<ix::net::MacAddress> mac = InterfaceMac(iface);
  if (!mac.ok()) {
    fprintf(stderr, "ix-echo: %s\n", std::string(mac.status().message()).c_str());
    return 1;
  }
  ix::core::MbufPoolOptions po;
  po.num_buffers = static_cast<uint32_t>(buffers);
  po.name = "ix-echo";
  absl::StatusOr<std::unique_ptr<ix::core::MbufPool>> pool = ix::core::MbufPool::Create(po);
  if (!pool.ok()) {
    fprintf(stderr, "ix-echo: %s\n", std::string(pool.status().message()).c_str());
    return 1;
  }
  ix::nic::AfXdpOptions xo;
  xo.ifname = iface;
  xo.queue_id = static_cast<uint32_t>(queue_id);
  xo.pool = pool->get();
  xo.copy_mode = copy_mode;
  xo.rx_ring_size = xo.fill_ring_size = static_cast<uint32_t>(rx_ring);
  xo.fill_buffers = static_cast<uint32_t>(rx_ring);
  absl::StatusOr<std::unique_ptr<ix::nic::AfXdpQueue>> queue = ix::nic::AfXdpQueue::Open(xo);
  if (!queue.ok()) {
    fprintf(stderr, "ix-echo: %s\n", std::string(queue.status().message()).c_str());
    return 1;
  }
  // Optional impairment between the stack and the NIC (tests on kernels without sch_netem).
  std::unique_ptr<ix::dp::FaultQueue> faults;
  ix::nic::Queue* nic_queue = queue->get();
  if (impair_rx->active() || impair_tx->active()) {
    faults = std::make_unique<ix::dp::FaultQueue>(
        nic_queue, ix::dp::FaultQueueOptions{.rx = *impair_rx, .tx = *impair_tx});
    nic_queue = faults.get();
    fprintf(stderr, "ix-echo: impairing the link: rx '%s', tx '%s'\n",
            absl::GetFlag(FLAGS_impair_rx).c_str(), absl::GetFlag(FLAGS_impair_tx).c_str());
  }
  ix::dp::StackConfig sc;
  sc.mac = *mac;
  sc.ip = *ip;
  sc.prefix_len = prefix;
  sc.rx_batch = batch;
  sc.tcp.max_connections = static_cast<uint32_t>(max_conns);
  sc.tcp.send_buffer_bytes = sc.tcp.recv_buffer_bytes = static_cast<uint32_t>(tcp_kib) * 1024;
  sc.tcp.sack = absl::GetFlag(FLAGS_tcp_sack);
  sc.reasm.max_datagrams = static_cast<uint32_t>(reasm);
  absl::StatusOr<std::unique_ptr<ix::dp::Stack>> stack = ix::dp::Stack::Create(sc, nic_queue);
  if (!stack.ok()) {
    fprintf(stderr, "ix-echo: %s\n", std::string(stack.status().message()).c_str());
    return 1;
  }
  ix::examples::EchoServer server(
      stack->get(), {.mode = mode == "http" ? ix::examples::EchoMode::kHttp
                                            : ix::examples::EchoMode::kEcho,
                     .port = static_cast<uint16_t>(port)});
  if (absl::Status st = server.Start(); !st.ok()) {
    fprintf(stderr, "ix-echo: %s\n", std::string(st.message()).c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = OnStop;  // no SA_RESTART: a signal ends the idle ppoll() at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sa.sa_handler = OnDump;
  sigaction(SIGUSR1, &sa, nullptr);

  ix::dp::IdlePoller idle(stack->get(),
                          {.spin_ns = static_cast<uint64_t>(absl::GetFlag(FLAGS_spin_us)) * 1000});
  printf("ix-echo: ready %s:%d\n", ix::net::FormatIpv4Address(*ip).c_str(), port);
  fflush(stdout);
  fprintf(stderr, "ix-echo: mode %s, MAC %s, batch %d, max_conns %d\n", mode.c_str(),
          ix::net::FormatMacAddress(*mac).c_str(), batch, max_conns);

  ix::dp::Stack& s = **stack;
  const uint64_t end_ns =
      duration_s > 0 ? ix::dp::MonotonicNowNs() + uint64_t(duration_s) * 1'000'000'000 : 0;
  while (!g_stop.load(std::memory_order_relaxed)) {
    const uint64_t now = ix::dp::MonotonicNowNs();
    int work = s.RunOnce(now);
    work += server.HandleEvents();
    work += s.Flush();
    idle.AfterIteration(work);
    if (g_dump.exchange(false)) PrintCounters(s, server, idle, faults.get(), **queue);
    if (end_ns != 0 && now >= end_ns) break;
  }
  PrintCounters(s, server, idle, faults.get(), **queue);
  return 0;
}
