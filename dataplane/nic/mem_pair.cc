// MemPair: the fake wire between two in-memory queues and its fault injection.
#include "dataplane/nic/mem_pair.h"

#include <algorithm>
#include <cstring>

namespace ix::nic {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

MemPair::MemPair(core::MbufPool* pool_a, core::MbufPool* pool_b, uint64_t seed,
                 uint32_t wire_capacity)
    : ends_{End(this, 0, pool_a), End(this, 1, pool_b)}, wire_capacity_(wire_capacity) {
  links_[0].rng = seed;
  links_[1].rng = seed ^ 0x5bd1e995a5a5a5a5ull;
}

uint64_t MemPair::NextRandom(Link& link) { return SplitMix64(&link.rng); }

bool MemPair::Hits(Link& link, Fault fault, const FaultRule& rule) {
  uint32_t& injected = link.injected[static_cast<int>(fault)];
  bool by_rule;
  if (link.faults.deterministic) {
    by_rule = rule.every != 0 && link.ordinal % rule.every == 0;
  } else {
    // Always draw, so that changing one rate does not shift the other faults' sequence.
    const double u = static_cast<double>(NextRandom(link) >> 11) * 0x1.0p-53;
    by_rule = u < rule.rate;
  }
  if (injected > 0) {
    --injected;
    return true;
  }
  return by_rule;
}

void MemPair::Corrupt(Link& link, std::vector<uint8_t>& bytes) {
  const LinkFaults& f = link.faults;
  if (bytes.size() <= f.corrupt_min_offset) return;
  const uint64_t span = bytes.size() - f.corrupt_min_offset;
  const uint32_t count = std::min<uint64_t>(std::max<uint32_t>(f.corrupt_bytes, 1), span);
  if (f.deterministic) {
    const uint64_t start = link.ordinal % span;
    for (uint32_t i = 0; i < count; ++i) {
      bytes[f.corrupt_min_offset + (start + i) % span] ^= 0xff;
    }
  } else {
    // Distinct offsets, so that two flips never cancel out.
    std::vector<uint64_t> offsets;
    while (offsets.size() < count) {
      const uint64_t off = NextRandom(link) % span;
      if (std::find(offsets.begin(), offsets.end(), off) == offsets.end()) offsets.push_back(off);
    }
    for (uint64_t off : offsets) bytes[f.corrupt_min_offset + off] ^= 0xff;
  }
}

int MemPair::Send(int from_side, const Packet* pkts, int n) {
  Link& link = links_[from_side];
  End& end = ends_[from_side];
  const LinkFaults& f = link.faults;
  int accepted = 0;
  for (; accepted < n; ++accepted) {
    if (link.wire.size() >= wire_capacity_) {
      ++link.counters.wire_full;
      ++end.stats_.tx_ring_full;
      break;
    }
    const Packet& p = pkts[accepted];
    const uint8_t* data = PacketData(*end.pool_, p);
    ++link.ordinal;
    ++link.counters.sent;
    ++end.stats_.tx_packets;
    end.stats_.tx_bytes += p.len;

    // Decide every fault up front so each frame consumes the same random draws.
    const bool drop = Hits(link, Fault::kDrop, f.drop);
    const bool duplicate = Hits(link, Fault::kDuplicate, f.duplicate);
    const bool corrupt = Hits(link, Fault::kCorrupt, f.corrupt);
    const bool delay = Hits(link, Fault::kDelay, f.delay);
    const bool reorder = Hits(link, Fault::kReorder, f.reorder);

    if (drop) {
      ++link.counters.dropped;
    } else {
      WireFrame frame;
      frame.bytes.assign(data, data + p.len);
      WireFrame copy;
      if (duplicate) copy.bytes = frame.bytes;
      if (corrupt) {
        Corrupt(link, frame.bytes);
        ++link.counters.corrupted;
      }
      if (delay) {
        frame.ready_poll = link.rx_polls + f.delay_polls + 1;
        frame.ready_ns = now_ns_ + f.delay_ns;
        ++link.counters.delayed;
      }
      if (reorder) {
        frame.held = true;
        frame.hold_frames = std::max<uint32_t>(f.reorder_gap, 1);
        frame.hold_until_poll = link.rx_polls + f.reorder_max_polls;
        ++link.counters.reordered;
      }
      // This frame counts toward the gap of every frame held before it; a held frame whose gap
      // is now complete moves behind this one.
      std::vector<WireFrame> released;
      for (auto it = link.wire.begin(); it != link.wire.end();) {
        if (it->held && --it->hold_frames == 0) {
          it->held = false;
          released.push_back(std::move(*it));
          it = link.wire.erase(it);
        } else {
          ++it;
        }
      }
      link.wire.push_back(std::move(frame));
      if (duplicate) {
        link.wire.push_back(std::move(copy));
        ++link.counters.duplicated;
      }
      for (WireFrame& r : released) link.wire.push_back(std::move(r));
    }
    // The wire has the bytes: TX is complete.
    end.pool_->Free(p.buf);
    ++end.stats_.tx_completed;
  }
  return accepted;
}

int MemPair::Receive(int to_side, Packet* out, int max) {
  Link& link = links_[1 - to_side];
  End& end = ends_[to_side];
  core::MbufPool& pool = *end.pool_;
  ++link.rx_polls;
  int n = 0;
  for (auto it = link.wire.begin(); it != link.wire.end() && n < max;) {
    if (it->held && link.rx_polls >= it->hold_until_poll) it->held = false;
    const bool ready = !it->held && it->ready_poll <= link.rx_polls && it->ready_ns <= now_ns_;
    if (!ready) {
      ++it;
      continue;
    }
    const size_t len = it->bytes.size();
    if (len > pool.buffer_size() - pool.headroom() || len > UINT16_MAX) {
      ++link.counters.oversize;
      ++end.stats_.rx_dropped;
      it = link.wire.erase(it);
      continue;
    }
    const uint32_t buf = pool.Alloc();
    if (buf == core::MbufPool::kNoBuffer) {
      ++link.counters.no_buffer;
      ++end.stats_.rx_no_buffer;
      ++end.stats_.rx_dropped;
      it = link.wire.erase(it);
      continue;
    }
    if (len > 0) memcpy(pool.Data(buf) + pool.headroom(), it->bytes.data(), len);
    out[n++] = Packet{buf, static_cast<uint16_t>(pool.headroom()), static_cast<uint16_t>(len)};
    ++link.counters.delivered;
    ++end.stats_.rx_packets;
    end.stats_.rx_bytes += len;
    it = link.wire.erase(it);
  }
  return n;
}

int MemPair::End::RxBurst(Packet* out, int max) { return pair_->Receive(side_, out, max); }

int MemPair::End::TxBurst(const Packet* pkts, int n) { return pair_->Send(side_, pkts, n); }

}  // namespace ix::nic
