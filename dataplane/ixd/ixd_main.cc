// ixd: the ix dataplane daemon. Owns one NIC queue (AF_XDP), runs the stack on one core and
// serves the applications that attach through its Unix socket (see daemon.h, include/ix/abi.h).
//
//   ixd --iface=eth1 --ip=10.0.0.1/24 [--gateway=10.0.0.254] [--socket=/run/ix/ixd.sock] [--cpu=1]
//   socat - UNIX-CONNECT:/run/ix/ixd.sock.stats   # live counters: one JSON line (--stats_socket)
//
// Exit status: 0 after SIGINT/SIGTERM, 1 when the dataplane cannot start, 2 on bad flags.
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_split.h"
#include "dataplane/ixd/daemon.h"
#include "dataplane/ixd/dp_host.h"
#include "common/strict_flags.h"
#include "dataplane/ixd/dp_stack_ops.h"

ABSL_FLAG(std::string, iface, "", "network interface to own (required)");
ABSL_FLAG(std::string, ip, "", "our address, A.B.C.D or A.B.C.D/len (required; len 24 default)");
ABSL_FLAG(std::string, gateway, "", "default gateway (optional)");
ABSL_FLAG(std::string, socket, IX_DEFAULT_SOCKET, "Unix socket applications attach to");
ABSL_FLAG(std::string, stats_socket, "",
          "Unix stream socket answering every connection with one JSON line of live counters "
          "(daemon, apps, stack, NIC) and closing it; the client's input is ignored. "
          "Default: the --socket path + \".stats\"; \"none\": no stats socket");
ABSL_FLAG(int, cpu, -1, "pin the dataplane thread to this CPU (-1: do not pin)");
ABSL_FLAG(uint32_t, queue_id, 0, "NIC queue to use");
ABSL_FLAG(uint32_t, cmd_budget, 256, "commands executed per queue pair per iteration");
ABSL_FLAG(uint32_t, spin_us, 50, "busy-poll this long after the last work before sleeping");
ABSL_FLAG(uint32_t, max_apps, 64, "applications served at once");
ABSL_FLAG(bool, busy_poll, false, "AF_XDP busy polling (SO_PREFER_BUSY_POLL)");
ABSL_FLAG(bool, verbose, true, "log attach and detach with per-app counters");

namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "the ix dataplane daemon.\n"
      "  ixd --iface=IF --ip=A.B.C.D[/len] [--gateway=A.B.C.D] [--socket=PATH] [--cpu=N]\n"
      "      [--stats_socket=PATH|none]\n"
      "Applications attach with libix (ix_init with IX_MODE_IXD, or IX_MODE=ixd). Live counters:\n"
      "connect to the stats socket (default PATH.stats) and read one JSON line.");
  ix::CheckFlagsOrExit("ixd", argc, argv);
  absl::ParseCommandLine(argc, argv);
  const std::string iface = absl::GetFlag(FLAGS_iface);
  const std::string ip = absl::GetFlag(FLAGS_ip);
  if (iface.empty() || ip.empty()) {
    fprintf(stderr, "ixd: --iface and --ip are required (see --help)\n");
    return 2;
  }
  ix::net::Ipv4Address addr;
  int prefix;
  if (absl::Status st = ix::ixd::ParseCidr(ip, &addr, &prefix); !st.ok()) {
    fprintf(stderr, "ixd: --ip: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  const int cpu = absl::GetFlag(FLAGS_cpu);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (cpu >= CPU_SETSIZE || sched_setaffinity(0, sizeof(set), &set) != 0) {
      fprintf(stderr, "ixd: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
      return 2;
    }
  }

  ix::ixd::DpHostOptions ho;
  ho.iface = iface;
  ho.ip = ip;
  ho.gateway = absl::GetFlag(FLAGS_gateway);
  ho.queue_id = absl::GetFlag(FLAGS_queue_id);
  ho.busy_poll = absl::GetFlag(FLAGS_busy_poll);
  absl::StatusOr<std::unique_ptr<ix::ixd::DpHost>> host = ix::ixd::DpHost::Create(ho);
  if (!host.ok()) {
    fprintf(stderr, "ixd: cannot start the dataplane on %s: %s\n", iface.c_str(),
            std::string(host.status().message()).c_str());
    return 1;
  }
  ix::dp::Stack* stack = (*host)->stack();
  ix::ixd::DpStackOps ops(stack);
  ix::ixd::Daemon::Hooks hooks;
  hooks.run = [stack](uint64_t now) { return stack->RunOnce(now); };
  hooks.flush = [stack] { return stack->Flush(); };
  hooks.next_deadline = [stack] { return stack->NextDeadline(); };
  hooks.wait_fd = (*host)->queue()->WaitFd();
  ix::nic::AfXdpQueue* xsk = (*host)->queue();
  hooks.counters = [stack, xsk](ix::ixd::CounterVisitor fn) {
    stack->ForEachCounter(fn);
    fn("xsk.zero_copy", xsk->zero_copy() ? 1 : 0);
    fn("xsk.native_xdp", xsk->native_xdp() ? 1 : 0);
    if (absl::StatusOr<ix::nic::XskKernelStats> k = xsk->KernelStats(); k.ok()) {
      fn("xsk.rx_dropped", k->rx_dropped);
      fn("xsk.rx_invalid_descs", k->rx_invalid_descs);
      fn("xsk.tx_invalid_descs", k->tx_invalid_descs);
      fn("xsk.rx_ring_full", k->rx_ring_full);
      fn("xsk.rx_fill_ring_empty_descs", k->rx_fill_ring_empty_descs);
      fn("xsk.tx_ring_empty_descs", k->tx_ring_empty_descs);
    }
  };
  ix::ixd::DaemonOptions opts;
  opts.socket_path = absl::GetFlag(FLAGS_socket);
  opts.stats_socket_path = absl::GetFlag(FLAGS_stats_socket);
  if (opts.stats_socket_path.empty()) opts.stats_socket_path = opts.socket_path + ".stats";
  if (opts.stats_socket_path == "none") opts.stats_socket_path.clear();
  opts.processor.cmd_budget = absl::GetFlag(FLAGS_cmd_budget);
  opts.spin_ns = uint64_t{absl::GetFlag(FLAGS_spin_us)} * 1000;
  opts.max_apps = absl::GetFlag(FLAGS_max_apps);
  opts.verbose = absl::GetFlag(FLAGS_verbose);
  absl::StatusOr<std::unique_ptr<ix::ixd::Daemon>> d = ix::ixd::Daemon::Create(&ops, hooks, opts);
  if (!d.ok()) {
    fprintf(stderr, "ixd: %s\n", std::string(d.status().message()).c_str());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  fprintf(stderr, "ixd: serving %s on %s (%s), stats on %s\n", opts.socket_path.c_str(),
          iface.c_str(), ip.c_str(),
          opts.stats_socket_path.empty() ? "no socket" : opts.stats_socket_path.c_str());
  (*d)->Run(&g_stop);
  const ix::ixd::DaemonStats& s = (*d)->stats();
  fprintf(stderr,
          "ixd: stopping: %llu attached, %llu detached, %llu refused, %llu sleeps, "
          "%llu stats answers (%llu dropped)\n",
          static_cast<unsigned long long>(s.attached), static_cast<unsigned long long>(s.detached),
          static_cast<unsigned long long>(s.refused), static_cast<unsigned long long>(s.sleeps),
          static_cast<unsigned long long>(s.stats_served),
          static_cast<unsigned long long>(s.stats_dropped));
  d->reset();
  return 0;
}
