// TCP engine: ICMP errors about our segments. RFC 5927 4.1-4.3 checks (4-tuple, then the quoted
// sequence number against the send window) before anything changes; then RFC 1191 path MTU
// reduction, hard errors that end a connect, and soft errors that are only counted (RFC 1122
// 4.2.3.9; a soft error in SYN_SENT becomes the connect's error if it times out). Linux
// (tcp_v4_err) acts the same way on these cases.
#include <algorithm>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_engine.h"
#include "dataplane/net/tcp/tcp_seq.h"

namespace ix::net::tcp {
namespace {

constexpr uint8_t kIcmpDestUnreachable = 3;
constexpr uint8_t kIcmpCodeFragNeeded = 4;
constexpr uint16_t kMinPmtu = 552;        // Linux net.ipv4.route.min_pmtu
constexpr uint16_t kIpTcpHeaderLen = 40;  // IPv4 + TCP headers without options

// What a destination-unreachable code means for a connect in SYN_SENT (codes 0..15; others are
// not defined and give kOk: ignored).
TcpError UnreachableError(uint8_t code) {
  switch (code) {
    case 0:
    case 6:
    case 11:
      return TcpError::kNetUnreachable;
    case 1:
    case 5:
    case 7:
    case 8:
    case 12:
    case 14:
    case 15:
      return TcpError::kHostUnreachable;
    case 2:
    case 3:
      return TcpError::kPortUnreachable;
    case 9:
    case 10:
    case 13:
      return TcpError::kAdminProhibited;
    default:
      return TcpError::kOk;
  }
}

}  // namespace

void TcpEngine::HandleIcmpError(uint32_t local_ip, uint32_t remote_ip, const uint8_t* quoted_tcp8,
                                uint8_t type, uint8_t code, uint16_t next_hop_mtu,
                                uint64_t now_ns) {
  ++counters_.icmp_errors_rx;
  const uint16_t src_port = LoadBe16(quoted_tcp8);
  const uint16_t dst_port = LoadBe16(quoted_tcp8 + 2);
  const uint32_t seq = LoadBe32(quoted_tcp8 + 4);
  const int32_t found = TableFind(TcpFourTuple{local_ip, remote_ip, src_port, dst_port});
  if (found < 0) {
    ++counters_.icmp_no_connection;
    return;
  }
  const uint32_t idx = static_cast<uint32_t>(found);
  TcpConn& c = conns_[idx];
  // In SYN_SENT and SYN_RECEIVED, snd_una == iss and snd_max == iss + 1: only our SYN matches.
  if (c.state == TcpState::kTimeWait || !SeqInRange(seq, c.snd_una, c.snd_max)) {
    ++counters_.icmp_out_of_window;
    return;
  }
  if (type == kIcmpDestUnreachable && code == kIcmpCodeFragNeeded) {
    // RFC 1191: the next-hop MTU; 0 (a pre-RFC 1191 router) is ignored rather than guessed from
    // the plateau table. Never raise; below 552 use 552 (Linux min_pmtu; DF stays set).
    const uint16_t options = c.ts_ok ? kTcpTimestampOptionBytes : 0;
    if (next_hop_mtu == 0 || !c.CanSendData()) {
      ++counters_.icmp_pmtu_ignored;
      return;
    }
    const uint16_t mtu = std::max(next_hop_mtu, kMinPmtu);
    const uint16_t mss = static_cast<uint16_t>(mtu - kIpTcpHeaderLen - options);
    if (mss >= c.snd_mss) {
      ++counters_.icmp_pmtu_ignored;
      return;
    }
    ++counters_.icmp_pmtu_reductions;
    c.snd_mss = mss;
    // The segments in flight were too big and are lost: resend from SND.UNA in the new size
    // now (go-back-N, as after an RTO but without the cwnd penalty: this is not congestion).
    c.snd_nxt = c.snd_una;
    c.rtt_timing = false;
    c.cwnd = std::max(c.cwnd, uint32_t{mss});
    Output(idx, now_ns);
    return;
  }
  if (type == kIcmpDestUnreachable && c.state == TcpState::kSynSent) {
    const TcpError error = UnreachableError(code);
    if (error != TcpError::kOk) {
      ++counters_.icmp_connect_aborts;
      ++counters_.conn_aborts;
      EnterClosed(idx, error);
      return;
    }
  }
  ++counters_.icmp_soft_errors;
  if (c.state == TcpState::kSynSent) {  // remembered for the connect's timeout (Linux does)
    const TcpError e = type == kIcmpDestUnreachable ? UnreachableError(code)
                                                    : TcpError::kHostUnreachable;
    if (e != TcpError::kOk) c.soft_error = e;
  }
}

}  // namespace ix::net::tcp
