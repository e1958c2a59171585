// ix-echo-app: TCP and UDP echo on libix, in library mode (the stack in this process, over
// AF_XDP) or attached to ixd, chosen by --mode. The libix counterpart of examples/echo (which
// drives the stack directly).
//
//   ix-echo-app --mode=library --iface=veth0 --ip=10.0.0.1/24 [--port=7]
//   ix-echo-app --mode=ixd [--socket=/run/ix/ixd.sock] [--port=7]
//
// TCP: every byte received on a connection is sent back (through the StreamServer, so a client
// that does not read is throttled, never answered out of order or short); a connection that
// starts with sockperf's framing gets sockperf's server answers instead (echo_handler.h). UDP:
// each datagram to the same port goes back to its sender, or gets sockperf's answer (dropped,
// and counted, when the TX area is full).
// Prints "ix-echo-app: ready <ip or ixd>:<port>" once it serves; exits 0 on SIGINT/SIGTERM,
// 1 if the dataplane cannot be used, 2 on bad flags. Counters go to stderr at exit.
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "examples/kv/ix_app.h"
#include "examples/kv/stream_server.h"
#include "examples/libix_echo/echo_handler.h"

ABSL_FLAG(int32_t, port, 7, "TCP and UDP port to echo on");
ABSL_FLAG(bool, udp, true, "also echo UDP datagrams on --port");

namespace ix::apps {
namespace {

struct UdpCounters {
  uint64_t received = 0;
  uint64_t echoed = 0;
  uint64_t silent = 0;   // sockperf messages that ask for no reply
  uint64_t dropped = 0;  // no TX room or no command slot
};

// Answers one datagram and hands its buffer back (both commands through the server's gate,
// see StreamServer::CommandRoom). Returns whether the event was UDP.
bool HandleUdp(ix_t* ix, StreamServer* server, const ix_event& ev, UdpCounters* c,
               std::string* scratch) {
  if (ev.type != IX_EV_UDP_RECV) return false;
  ++c->received;
  const void* data = ix_rx_data(ix, &ev);
  if (data == nullptr || !server->CommandRoom(2)) {
    ++c->dropped;
  } else if (!UdpEchoReply(absl::MakeConstSpan(static_cast<const uint8_t*>(data), ev.len),
                           scratch)) {
    ++c->silent;
  } else if (ix_udp_send(ix, ev.local_port, ev.remote_ip, ev.remote_port, scratch->data(),
                         scratch->size(), 0, 0) == 0) {
    ++c->echoed;
  } else {
    ++c->dropped;
  }
  server->UdpRecvDone(ev.buf);
  return true;
}

// A listen or bind result for the startup message: 1 while the dataplane has not answered,
// 0 done, < 0 -IX_E* (in words).
std::string CommandStatusText(int status) {
  if (status == 1) return "no answer from the dataplane within 10 s";
  if (status == 0) return "ok";
  return IxErrorText(status);
}

int Main(int argc, char** argv) {
  ParseFlagsOrExit(
      "ix-echo-app", argc, argv,
      "TCP and UDP echo on libix.\n"
      "  ix-echo-app --mode=library --iface=IF --ip=A.B.C.D[/len] [--port=7]\n"
      "  ix-echo-app --mode=ixd [--socket=PATH] [--port=7]");
  const int32_t port = absl::GetFlag(FLAGS_port);
  const bool udp = absl::GetFlag(FLAGS_udp);
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "ix-echo-app: --port must be 1..65535 (see --help)\n");
    return 2;
  }
  InstallStopSignals();
  absl::StatusOr<IxApp> app = OpenIx("ix-echo-app", 8u << 20);
  if (!app.ok()) {
    fprintf(stderr, "ix-echo-app: %s\n", std::string(app.status().message()).c_str());
    return 1;
  }
  ix_t* ix = app->ix;
  int status = 0;
  UdpCounters udp_counters;
  EchoCounters echo_counters;
  std::string scratch;
  {
    StreamServer server(
        ix, [&] { return std::make_unique<EchoHandler>(&echo_counters); },
        StreamServerOptions{.port = static_cast<uint16_t>(port)});
    int udp_status = udp ? 1 : 0;  // 1: bind in flight
    if (server.Listen() != 0 || (udp && ix_udp_bind(ix, static_cast<uint16_t>(port)) != 0)) {
      fprintf(stderr, "ix-echo-app: cannot queue the listen / bind commands\n");
      status = 1;
    }
    bool ready = false;
    const time_t deadline = time(nullptr) + 10;
    ix_event events[256];
    while (status == 0 && !StopRequested()) {
      const int64_t timeout_ns = server.has_retries() ? 1'000'000 : 100'000'000;
      const int n = ix_poll(ix, events, 256, timeout_ns);
      if (n < 0) {
        fprintf(stderr, "ix-echo-app: ix_poll failed: %s\n", IxErrorText(n).c_str());
        status = 1;
        break;
      }
      for (int i = 0; i < n; ++i) {
        const ix_event& ev = events[i];
        if (server.HandleEvent(ev) || HandleUdp(ix, &server, ev, &udp_counters, &scratch)) continue;
        if (ev.type == IX_EV_CMD_DONE && ev.flags == IX_CMD_UDP_BIND) {
          udp_status = static_cast<int>(ev.value);
        } else if (ev.type == IX_EV_CMD_DONE && ev.flags == IX_CMD_UDP_SEND && ev.value < 0) {
          --udp_counters.echoed;  // the dataplane refused it after all
          ++udp_counters.dropped;
        }
      }
      server.AfterEvents();
      if (DumpRequested()) {
        fprintf(stderr, "ix-echo-app: %s", server.DebugString().c_str());
      }
      if (!ready) {
        if (server.listen_status() == 0 && udp_status == 0) {
          ready = true;
          printf("ix-echo-app: ready %s:%d\n", app->where.c_str(), port);
          fflush(stdout);
        } else if (server.listen_status() < 0 || udp_status < 0 || time(nullptr) > deadline) {
          fprintf(stderr, "ix-echo-app: cannot serve port %d: listen: %s; udp bind: %s\n", port,
                  CommandStatusText(server.listen_status()).c_str(),
                  CommandStatusText(udp_status).c_str());
          status = 1;
        }
      }
    }
    const StreamServerCounters& c = server.counters();
    fprintf(stderr,
            "ix-echo-app: tcp accepted %llu closed %llu reset %llu rx_bytes %llu tx_bytes %llu "
            "sends %llu short_sends %llu tx_full %llu cmd_errors %llu sockperf_replies %llu; "
            "udp received %llu echoed %llu silent %llu dropped %llu\n",
            static_cast<unsigned long long>(c.accepted), static_cast<unsigned long long>(c.closed),
            static_cast<unsigned long long>(c.reset), static_cast<unsigned long long>(c.rx_bytes),
            static_cast<unsigned long long>(c.tx_bytes), static_cast<unsigned long long>(c.sends),
            static_cast<unsigned long long>(c.short_sends),
            static_cast<unsigned long long>(c.tx_full),
            static_cast<unsigned long long>(c.cmd_errors),
            static_cast<unsigned long long>(echo_counters.sockperf_replies),
            static_cast<unsigned long long>(udp_counters.received),
            static_cast<unsigned long long>(udp_counters.echoed),
            static_cast<unsigned long long>(udp_counters.silent),
            static_cast<unsigned long long>(udp_counters.dropped));
    if (c.cmd_errors != 0) fprintf(stderr, "ix-echo-app: %s", server.DebugString().c_str());
  }
  ix_destroy(ix);
  return status;
}

}  // namespace
}  // namespace ix::apps

int main(int argc, char** argv) { return ix::apps::Main(argc, argv); }
