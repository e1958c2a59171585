// FaultQueue: netem-like loss, duplication, delay and reordering around a real queue.
#include "dataplane/core/stack_fault_queue.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "dataplane/core/stack.h"

namespace ix::dp {

absl::StatusOr<LinkImpairment> ParseLinkImpairment(absl::string_view text) {
  LinkImpairment l;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, '=');
    double v = 0;
    if (!absl::SimpleAtod(kv.second, &v) || v < 0) {
      return absl::InvalidArgumentError(absl::StrCat("impairment: bad value in '", item, "'"));
    }
    if (kv.first == "loss") {
      l.loss_pct = v;
    } else if (kv.first == "duplicate") {
      l.duplicate_pct = v;
    } else if (kv.first == "reorder") {
      l.reorder_pct = v;
    } else if (kv.first == "delay_us") {
      l.delay_ns = static_cast<uint64_t>(v * 1000);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("impairment: unknown key '", kv.first,
                       "' (loss, duplicate, reorder, delay_us)"));
    }
    if (kv.first != "delay_us" && v > 100) {
      return absl::InvalidArgumentError(absl::StrCat("impairment: '", item, "' above 100%"));
    }
  }
  return l;
}

FaultQueue::FaultQueue(nic::Queue* inner, const FaultQueueOptions& options)
    : inner_(inner), options_(options), rng_(options.seed * 0x9e3779b97f4a7c15ull + 1) {}

FaultQueue::~FaultQueue() {
  for (const Held& h : held_) inner_->pool().Free(h.pkt.buf);
  for (const nic::Packet& p : ready_) inner_->pool().Free(p.buf);
}

bool FaultQueue::Chance(double pct) {
  if (pct <= 0) return false;
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<double>(rng_ % 1'000'000) < pct * 10'000;
}

uint32_t FaultQueue::Copy(const nic::Packet& pkt) {
  core::MbufPool& pool = inner_->pool();
  const uint32_t b = pool.Alloc();
  if (b != core::MbufPool::kNoBuffer) {
    memcpy(pool.Data(b) + pkt.data_off, pool.Data(pkt.buf) + pkt.data_off, pkt.len);
  }
  return b;
}

void FaultQueue::Admit(const nic::Packet& pkt, uint64_t now_ns, std::vector<nic::Packet>* out) {
  const LinkImpairment& f = options_.rx;
  if (f.delay_ns == 0) {
    out->push_back(pkt);
    return;
  }
  if (Chance(f.reorder_pct)) {
    ++counters_.rx_reordered;
    out->push_back(pkt);
    return;
  }
  if (held_.size() >= options_.max_held) {
    ++counters_.rx_over_limit;
    inner_->pool().Free(pkt.buf);
    return;
  }
  ++counters_.rx_delayed;
  held_.push_back(Held{pkt, now_ns + f.delay_ns});
}

int FaultQueue::RxBurst(nic::Packet* out, int max) {
  if (max <= 0) return 0;
  if (!options_.rx.active()) return inner_->RxBurst(out, max);
  const uint64_t now = MonotonicNowNs();
  burst_.resize(static_cast<size_t>(max));
  const int n = inner_->RxBurst(burst_.data(), max);
  for (int i = 0; i < n; ++i) {
    const nic::Packet& p = burst_[static_cast<size_t>(i)];
    if (Chance(options_.rx.loss_pct)) {
      ++counters_.rx_lost;
      inner_->pool().Free(p.buf);
      continue;
    }
    Admit(p, now, &ready_);
    if (Chance(options_.rx.duplicate_pct)) {
      const uint32_t b = Copy(p);
      if (b == core::MbufPool::kNoBuffer) {
        ++counters_.rx_dup_no_buffer;
      } else {
        ++counters_.rx_duplicated;
        Admit(nic::Packet{b, p.data_off, p.len}, now, &ready_);
      }
    }
  }
  // Frames due now go out first (reordered ones overtake the held ones), then held ones in order.
  int k = 0;
  size_t taken = 0;
  while (k < max && taken < ready_.size()) out[k++] = ready_[taken++];
  ready_.erase(ready_.begin(), ready_.begin() + static_cast<ptrdiff_t>(taken));
  while (k < max && !held_.empty() && held_.front().release_ns <= now) {
    out[k++] = held_.front().pkt;
    held_.pop_front();
  }
  return k;
}

int FaultQueue::TxBurst(const nic::Packet* pkts, int n) {
  if (!options_.tx.active()) return inner_->TxBurst(pkts, n);
  tx_.clear();
  std::vector<uint8_t> lost(static_cast<size_t>(n), 0);
  std::vector<uint32_t> dups;
  for (int i = 0; i < n; ++i) {
    if (Chance(options_.tx.loss_pct)) {
      lost[static_cast<size_t>(i)] = 1;
      continue;
    }
    tx_.push_back(pkts[i]);
    if (Chance(options_.tx.duplicate_pct)) {
      const uint32_t b = Copy(pkts[i]);
      if (b != core::MbufPool::kNoBuffer) {
        tx_.push_back(nic::Packet{b, pkts[i].data_off, pkts[i].len});
        dups.push_back(b);
      }
    }
  }
  const int sent = tx_.empty() ? 0 : inner_->TxBurst(tx_.data(), static_cast<int>(tx_.size()));
  // Map the accepted prefix of tx_ back to a prefix of pkts: a packet counts as accepted once
  // it (and its duplicate, if any) went; lost packets before it are accepted too.
  size_t t = 0;
  int accepted = 0;
  for (int i = 0; i < n; ++i) {
    if (lost[static_cast<size_t>(i)]) {
      ++counters_.tx_lost;
      inner_->pool().Free(pkts[i].buf);
      ++accepted;
      continue;
    }
    if (t >= static_cast<size_t>(sent)) break;
    ++t;  // the original
    if (t < tx_.size() && tx_[t].buf != pkts[i].buf &&
        std::find(dups.begin(), dups.end(), tx_[t].buf) != dups.end()) {
      if (t < static_cast<size_t>(sent)) {
        ++counters_.tx_duplicated;
      } else {
        inner_->pool().Free(tx_[t].buf);  // the duplicate did not fit: drop just it
      }
      ++t;
    }
    ++accepted;
  }
  // Duplicates past the accepted region that belong to packets not accepted: free them.
  for (size_t j = std::max(t, static_cast<size_t>(sent)); j < tx_.size(); ++j) {
    if (std::find(dups.begin(), dups.end(), tx_[j].buf) != dups.end()) {
      inner_->pool().Free(tx_[j].buf);
    }
  }
  return accepted;
}

}  // namespace ix::dp
