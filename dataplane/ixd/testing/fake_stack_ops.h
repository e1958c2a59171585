// A scripted StackOps for unit tests of the command processor: connections are records in a map,
// the test injects stack events (accepted, readable, reset, datagrams) and inspects what the
// processor did to each connection (bytes sent, consumed, closed, aborted).
#ifndef IX_DATAPLANE_IXD_TESTING_FAKE_STACK_OPS_H_
#define IX_DATAPLANE_IXD_TESTING_FAKE_STACK_OPS_H_

#include <algorithm>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataplane/ixd/stack_ops.h"
#include "ix/abi.h"

namespace ix::ixd::testing {

class FakeStackOps : public StackOps {
 public:
  struct Conn {
    std::string rx;       // received, unconsumed bytes
    std::string sent;     // everything Send accepted
    size_t consumed = 0;  // bytes released by Consume
    size_t send_space = 1 << 20;
    bool shutdown = false, closed = false, aborted = false;
    bool dead = false;
    uint32_t remote_ip = 0;
    uint16_t remote_port = 0, local_port = 0;
  };
  struct SentDatagram {
    uint16_t src_port;
    uint32_t dst_ip;
    uint16_t dst_port;
    std::string payload;
  };

  absl::Status Listen(uint16_t port, uint32_t) override {
    if (!listening.insert(port).second) return absl::AlreadyExistsError("listening");
    return absl::OkStatus();
  }
  absl::Status Unlisten(uint16_t port) override {
    if (listening.erase(port) == 0) return absl::NotFoundError("not listening");
    return absl::OkStatus();
  }
  absl::StatusOr<ConnId> Connect(uint32_t ip, uint16_t port, uint16_t local_port) override {
    if (fail_connect) return absl::ResourceExhaustedError("table full");
    const ConnId id = next_id++;
    Conn& c = conns[id];
    c.remote_ip = ip;
    c.remote_port = port;
    c.local_port = local_port != 0 ? local_port : 50000;
    return id;
  }
  TcpIoResult Send(ConnId id, absl::Span<const uint8_t> data) override {
    Conn* c = Find(id);
    if (c == nullptr) return {TcpError::kInvalidConn, 0};
    if (c->shutdown) return {TcpError::kBadState, 0};
    const size_t n = std::min(data.size(), c->send_space);
    c->sent.append(reinterpret_cast<const char*>(data.data()), n);
    c->send_space -= n;
    return {n == 0 && !data.empty() ? TcpError::kWouldBlock : TcpError::kOk, n};
  }
  size_t SendSpace(ConnId id) const override {
    auto it = conns.find(id);
    return it == conns.end() ? 0 : it->second.send_space;
  }
  TcpReadView Peek(ConnId id) const override {
    auto it = conns.find(id);
    if (it == conns.end() || it->second.closed || it->second.aborted) return {};
    const std::string& s = it->second.rx;
    // Two spans, as a ring would give, to exercise the wrap-around copy.
    const size_t half = s.size() / 2;
    return {absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), half),
            absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()) + half,
                                s.size() - half)};
  }
  TcpError Consume(ConnId id, size_t n) override {
    Conn* c = Find(id);
    if (c == nullptr) return TcpError::kInvalidConn;
    n = std::min(n, c->rx.size());
    c->rx.erase(0, n);
    c->consumed += n;
    return TcpError::kOk;
  }
  TcpError Shutdown(ConnId id) override {
    Conn* c = Find(id);
    if (c == nullptr) return TcpError::kInvalidConn;
    c->shutdown = true;
    return TcpError::kOk;
  }
  TcpError Close(ConnId id) override {
    Conn* c = Find(id);
    if (c == nullptr) return TcpError::kInvalidConn;
    c->closed = true;
    return TcpError::kOk;
  }
  TcpError Abort(ConnId id) override {
    Conn* c = Find(id);
    if (c == nullptr) return TcpError::kInvalidConn;
    c->aborted = true;
    return TcpError::kOk;
  }
  absl::Status UdpBind(uint16_t port) override {
    if (!udp_bound.insert(port).second) return absl::AlreadyExistsError("bound");
    return absl::OkStatus();
  }
  absl::Status UdpUnbind(uint16_t port) override {
    if (udp_bound.erase(port) == 0) return absl::NotFoundError("not bound");
    return absl::OkStatus();
  }
  UdpErrorCode UdpSend(uint16_t src_port, uint32_t dst_ip, uint16_t dst_port,
                       absl::Span<const uint8_t> payload) override {
    if (payload.size() > 1472) return IX_EMSGSIZE;
    datagrams.push_back(
        {src_port, dst_ip, dst_port,
         std::string(reinterpret_cast<const char*>(payload.data()), payload.size())});
    return IX_OK;
  }
  size_t PollEvents(absl::Span<StackEvent> out) override {
    size_t n = 0;
    while (n < out.size() && !events.empty()) {
      out[n++] = events.front();
      events.pop_front();
    }
    return n;
  }

  // --- Test controls ---
  // A passive open on `port`: returns the engine id and queues kTcpAccepted.
  ConnId Accept(uint16_t port, uint32_t ip = 0x0a000002, uint16_t rport = 40000) {
    const ConnId id = next_id++;
    Conn& c = conns[id];
    c.remote_ip = ip;
    c.remote_port = rport;
    c.local_port = port;
    Push({StackEventType::kTcpAccepted, id, TcpError::kOk, ip, rport, port, {}});
    return id;
  }
  void Receive(ConnId id, const std::string& bytes) {
    conns[id].rx += bytes;
    Push({StackEventType::kTcpReadable, id});
  }
  void Event(ConnId id, StackEventType type, TcpError error = TcpError::kOk) {
    Push({type, id, error});
  }
  // The payload must stay alive until the processor has handled the event.
  void Udp(uint16_t port, const std::string& payload, uint32_t ip = 0x0a000002,
                uint16_t rport = 5353) {
    Push({StackEventType::kUdpReceived, net::tcp::kInvalidConnId, TcpError::kOk, ip, rport, port,
          absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(payload.data()),
                              payload.size())});
  }
  void Push(const StackEvent& ev) { events.push_back(ev); }
  Conn* Find(ConnId id) {
    auto it = conns.find(id);
    return it == conns.end() ? nullptr : &it->second;
  }

  std::map<ConnId, Conn> conns;
  std::set<uint16_t> listening, udp_bound;
  std::vector<SentDatagram> datagrams;
  std::deque<StackEvent> events;
  ConnId next_id = 100;
  bool fail_connect = false;
};

}  // namespace ix::ixd::testing

#endif  // IX_DATAPLANE_IXD_TESTING_FAKE_STACK_OPS_H_
