// Private state of the command processor, shared by processor.cc, processor_cmd.cc and
// processor_events.cc. Not for use outside dataplane/ixd.
#ifndef IX_DATAPLANE_IXD_PROCESSOR_INTERNAL_H_
#define IX_DATAPLANE_IXD_PROCESSOR_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "dataplane/ixd/processor.h"

namespace ix::ixd {

inline constexpr uint32_t kSlotBits = 20;
inline constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
inline constexpr uint32_t kNoSlot = ~0u;

// Pending event bits of a connection.
inline constexpr uint8_t kPendKnock = 1 << 0;
inline constexpr uint8_t kPendConnected = 1 << 1;
inline constexpr uint8_t kPendRecv = 1 << 2;
inline constexpr uint8_t kPendFin = 1 << 3;
inline constexpr uint8_t kPendSent = 1 << 4;
inline constexpr uint8_t kPendDead = 1 << 5;

struct Processor::Conn {
  enum class State : uint8_t { kFree, kKnock, kOpen, kDead };
  State state = State::kFree;
  uint8_t pending = 0;
  bool queued = false;      // in Queue::pending
  bool starved = false;     // in Queue::starved (waits for a free RX buffer)
  bool fin_seen = false;    // the peer's FIN arrived
  bool fin_posted = false;  // IX_EVF_FIN posted
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t remote_ip = 0;
  uint32_t gen = 1;  // 1..4095, bumped on release
  ConnId engine = net::tcp::kInvalidConnId;
  uint64_t cookie = 0;
  int64_t dead_value = 0;
  uint32_t copied = 0;     // bytes copied to RX buffers and not yet consumed in the engine
  uint32_t bufs_held = 0;  // RX buffers of this connection the app holds
};

struct Processor::Queue {
  enum class BufState : uint8_t { kFree, kTcp, kUdp };
  struct Buf {
    BufState state = BufState::kFree;
    uint32_t conn_id = 0;  // kTcp: the owning connection id
    uint32_t len = 0;
  };
  struct Timer {
    bool armed = false;
    uint64_t deadline_ns = 0;
    uint64_t cookie = 0;
  };

  App* app = nullptr;
  uint32_t index = 0;
  QpView v;
  uint32_t cmd_cons = 0;  // private copies of the indices this side owns
  uint32_t ev_prod = 0;
  uint32_t ev_published = 0;
  bool ring_bad = false;  // ev_cons seen corrupt this flush
  std::vector<Conn> conns;
  std::vector<uint32_t> free_conns;
  size_t conns_in_use = 0;
  std::vector<Buf> bufs;
  std::vector<uint32_t> free_bufs;
  bool buf_freed = false;  // since the last flush: starved connections may continue
  uint32_t max_bufs_per_conn = 0;
  std::deque<uint32_t> pending;  // slots with pending bits
  std::vector<uint32_t> starved;
  Timer timers[IX_MAX_TIMERS];
  AppCounters counters;
};

struct Processor::App {
  uint32_t id = 0;
  std::string name;
  std::vector<std::unique_ptr<Queue>> queues;
  uint32_t next_rr = 0;  // round robin for knocks
  size_t conns = 0;      // connection ids held over all queue pairs
  std::vector<uint16_t> tcp_ports;
  std::vector<uint16_t> udp_ports;
};

// Maps engine results to ABI error codes (positive IX_E*).
int TcpErrorToIx(TcpError e);

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_PROCESSOR_INTERNAL_H_
