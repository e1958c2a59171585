// A small libix application for the integration tests: a TCP and UDP echo server on one port,
// written once with ixev and run unchanged in library mode or against ixd.
//
//   ix_echo_app --port=7001 --mode=ixd --socket=/tmp/ixd.sock
//   ix_echo_app --port=7 --mode=library --iface=veth0 --ip=10.0.0.1/24
//
// Prints "ix_echo_app: ready <port>" on stdout once the port is bound; exits 0 on SIGTERM/SIGINT
// (after printing "ix_echo_app: echoed <bytes> bytes"), 1 on errors.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "libix/ix.h"
#include "libix/ixev.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

const char* Arg(int argc, char** argv, const char* name, const char* def) {
  const size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && argv[i][n] == '=') return argv[i] + n + 1;
  }
  return def;
}

}  // namespace

int main(int argc, char** argv) {
  const int port = std::atoi(Arg(argc, argv, "--port", "7"));
  const std::string mode = Arg(argc, argv, "--mode", "ixd");
  ix_options o;
  ix_options_init(&o);
  o.mode = mode == "library" ? IX_MODE_LIBRARY : IX_MODE_IXD;
  o.socket_path = Arg(argc, argv, "--socket", nullptr);
  o.iface = Arg(argc, argv, "--iface", nullptr);
  o.ip = Arg(argc, argv, "--ip", nullptr);
  o.name = "ix_echo_app";
  ix_t* ix = nullptr;
  if (int e = ix_init(&o, &ix); e != 0) {
    fprintf(stderr, "ix_echo_app: ix_init: %d: %s\n", e, ix_last_error());
    return 1;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  uint64_t echoed = 0;
  ix::ev::Loop loop(ix);
  if (loop.Listen(static_cast<uint16_t>(port), [&echoed](ix::ev::Conn& c) {
        c.send_limit = 8 << 20;
        c.on_recv = [&echoed](ix::ev::Conn& c, const uint8_t* p, size_t n) {
          // The whole chunk must be taken: a short Send would lose bytes in an echo. The send
          // buffer limit is well above what the receive window lets in at once.
          const size_t took = c.Send(p, n);
          echoed += took;
          if (took < n) {
            fprintf(stderr, "ix_echo_app: send buffer full, aborting a connection\n");
            c.Abort();
          }
        };
      }) != 0) {
    fprintf(stderr, "ix_echo_app: listen failed\n");
    return 1;
  }
  (void)ix_udp_bind(ix, static_cast<uint16_t>(port));
  // Wait for the two bind results.
  int results = 0;
  while (results < 2 && !g_stop) {
    ix_event ev[8];
    const int n = ix_poll(ix, ev, 8, 100'000'000);
    for (int i = 0; i < n; ++i) {
      if (ev[i].type != IX_EV_CMD_DONE) continue;
      ++results;
      if (ev[i].value != 0) {
        fprintf(stderr, "ix_echo_app: bind of port %d failed: %lld\n", port,
                static_cast<long long>(ev[i].value));
        return 1;
      }
    }
  }
  printf("ix_echo_app: ready %d\n", port);
  fflush(stdout);
  loop.on_udp = [ix](const ix_event& ev, const uint8_t* p, size_t n) {
    (void)ix_udp_send(ix, ev.local_port, ev.remote_ip, ev.remote_port, p, n, 0, 0);
  };
  while (!g_stop) {
    if (loop.RunOnce(100'000'000) < 0) break;
  }
  printf("ix_echo_app: echoed %llu bytes\n", static_cast<unsigned long long>(echoed));
  fflush(stdout);
  ix_destroy(ix);
  return 0;
}
