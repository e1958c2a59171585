// Internal: SACK bookkeeping on a TcpConn, pure functions (no I/O, no engine): the receiver's
// blocks (RFC 2018 4) and the sender's scoreboard with the RFC 6675 routines IsLost, SetPipe and
// NextSeg (rule 1). The engine decides when to call them (tcp_ack.cc, tcp_out.cc, tcp_reasm.cc).
//
//   // ACK from the peer on a sack_ok connection, before SND.UNA moves:
//   uint32_t fresh = SackUpdate(c, seg.options, seg.ack, counters);  // bytes newly SACKed
//   if (SackIsLost(c, c.snd_una)) ...                                // enter recovery
//   uint32_t pipe = SackPipe(c); uint32_t seq, len;
//   while (cwnd - pipe >= mss && SackNextSeg(c, data_end, &seq, &len)) { resend; pipe += len; }
#ifndef IX_DATAPLANE_NET_TCP_TCP_SACK_H_
#define IX_DATAPLANE_NET_TCP_TCP_SACK_H_

#include <cstdint>

#include "dataplane/net/tcp/tcp_conn.h"
#include "dataplane/net/tcp/tcp_segment.h"
#include "dataplane/net/tcp/tcp_types.h"

namespace ix::net::tcp {

inline constexpr uint32_t kSackDupThresh = 3;  // RFC 6675 DupThresh

// --- Receiver ---------------------------------------------------------------------------------
// Notes that out-of-order data starting at `seq` just arrived (after OooInsert stored it), so the
// next ACK reports its range first.
void SackNoteArrival(TcpConn& c, uint32_t seq);
// Fills o->sack with the blocks for an ACK (none unless sack_ok and data is held out of order):
// the range of the latest arrival first, then the ranges of earlier arrivals newest first, then
// the rest from the highest down; 3 blocks with timestamps, 4 without. Returns the count.
uint8_t FillSackBlocks(const TcpConn& c, TcpOptions* o);

// --- Sender -----------------------------------------------------------------------------------
// Drops scoreboard state at or below max(ack, snd_una), then records the valid SACK blocks of
// `o`. A block is ignored and counted when left >= right or right > snd_max
// (sack_blocks_invalid), or when it lies wholly at or below the cumulative ACK (sack_blocks_old:
// D-SACK, RFC 2883, or stale); one that straddles the ACK is clipped. `ack` must already be
// validated (<= snd_max). Returns the bytes no earlier block had covered (new SACK information).
uint32_t SackUpdate(TcpConn& c, const TcpOptions& o, uint32_t ack, TcpCounters& k);
// Forgets every SACKed range (RFC 6675 5.1: after an RTO the receiver may have reneged).
void SackClear(TcpConn& c);
// RFC 6675 4 IsLost(seq): kSackDupThresh discontiguous SACKed ranges above seq, or more than
// (kSackDupThresh - 1) * snd_mss SACKed bytes above it.
bool SackIsLost(const TcpConn& c, uint32_t seq);
// RFC 6675 4 SetPipe: bytes in [snd_una, snd_max) presumed in the network (unSACKed and not
// lost, plus retransmitted below high_rxt).
uint32_t SackPipe(const TcpConn& c);
// RFC 6675 4 NextSeg rule 1: the lowest unSACKed seq >= high_rxt below the highest SACKed byte
// with IsLost(seq); up to snd_mss bytes of it, not beyond the hole or data_end (end of the send
// buffer). False if there is none.
bool SackNextSeg(const TcpConn& c, uint32_t data_end, uint32_t* seq, uint32_t* len);

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_SACK_H_
