// A byte ring over caller-owned memory of power-of-two size: the TCP send and receive buffers.
// The capacity is fixed at Init; the memory may be attached later and detached while the ring is
// empty, so an idle connection holds no buffer (capacity() and free() count it all the same).
//
//   TcpRing r;
//   r.Init(65536);                 // capacity must be a power of two
//   r.Attach(mem);                 // before writing; mem must outlive the attachment
//   r.Append(bytes);               // producer side
//   TcpRing::Pieces p = r.Peek(0, r.size());   // up to two spans (the ring may wrap)
//   r.Consume(n);                  // consumer side
//
// For out-of-order reassembly, WriteAt(offset, bytes) stores bytes `offset` past the end of the
// readable data without making them readable; Commit(n) later makes n more bytes readable.
#ifndef IX_DATAPLANE_NET_TCP_TCP_RING_H_
#define IX_DATAPLANE_NET_TCP_TCP_RING_H_

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "absl/types/span.h"

namespace ix::net::tcp {

class TcpRing {
 public:
  struct Pieces {
    absl::Span<const uint8_t> first;
    absl::Span<const uint8_t> second;
    size_t size() const { return first.size() + second.size(); }
  };

  void Init(uint32_t capacity) {
    data_ = nullptr;
    mask_ = capacity - 1;
    head_ = 0;
    size_ = 0;
  }
  // Gives the ring its memory (capacity() bytes). Requires !attached().
  void Attach(uint8_t* data) {
    data_ = data;
    head_ = 0;
  }
  // Takes the memory back. Requires size() == 0 and no bytes written past the end (WriteAt).
  uint8_t* Detach() {
    uint8_t* d = data_;
    data_ = nullptr;
    return d;
  }
  // Forgets capacity and memory (the caller has taken the memory back with Detach first).
  void Reset() {
    data_ = nullptr;
    mask_ = 0;
    head_ = 0;
    size_ = 0;
  }

  bool attached() const { return data_ != nullptr; }
  bool configured() const { return mask_ != 0; }
  uint8_t* data() const { return data_; }
  uint32_t capacity() const { return configured() ? mask_ + 1 : 0; }
  uint32_t size() const { return size_; }
  uint32_t free() const { return capacity() - size_; }

  // Appends as much of `in` as fits; returns the count appended. Requires attached() unless in is
  // empty or the ring full.
  uint32_t Append(absl::Span<const uint8_t> in) {
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(in.size(), free()));
    CopyIn(size_, in.first(n));
    size_ += n;
    return n;
  }

  // Stores `in` at `offset` bytes past the readable end. Requires attached() and
  // offset + in.size() <= free().
  void WriteAt(uint32_t offset, absl::Span<const uint8_t> in) { CopyIn(size_ + offset, in); }

  // Makes n more bytes (already written with WriteAt) readable. Requires n <= free().
  void Commit(uint32_t n) { size_ += n; }

  // Up to `len` readable bytes starting `offset` bytes after the head.
  Pieces Peek(uint32_t offset, uint32_t len) const {
    Pieces p;
    if (offset >= size_) return p;
    len = std::min(len, size_ - offset);
    const uint32_t start = (head_ + offset) & mask_;
    const uint32_t first = std::min(len, capacity() - start);
    p.first = absl::Span<const uint8_t>(data_ + start, first);
    if (len > first) p.second = absl::Span<const uint8_t>(data_, len - first);
    return p;
  }

  // Drops n bytes from the head. Requires n <= size().
  void Consume(uint32_t n) {
    head_ = (head_ + n) & mask_;
    size_ -= n;
  }

  // Copies up to out.size() bytes from the head into `out` and consumes them.
  uint32_t Read(absl::Span<uint8_t> out) {
    Pieces p = Peek(0, static_cast<uint32_t>(std::min<size_t>(out.size(), size_)));
    if (!p.first.empty()) std::memcpy(out.data(), p.first.data(), p.first.size());
    if (!p.second.empty()) {
      std::memcpy(out.data() + p.first.size(), p.second.data(), p.second.size());
    }
    const uint32_t n = static_cast<uint32_t>(p.size());
    Consume(n);
    return n;
  }

 private:
  // Copies `in` to ring position head + pos (mod capacity).
  void CopyIn(uint32_t pos, absl::Span<const uint8_t> in) {
    if (in.empty()) return;
    const uint32_t start = (head_ + pos) & mask_;
    const uint32_t first = std::min<uint32_t>(static_cast<uint32_t>(in.size()), capacity() - start);
    std::memcpy(data_ + start, in.data(), first);
    if (in.size() > first) std::memcpy(data_, in.data() + first, in.size() - first);
  }

  uint8_t* data_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t head_ = 0;
  uint32_t size_ = 0;
};

}  // namespace ix::net::tcp

#endif  // IX_DATAPLANE_NET_TCP_TCP_RING_H_
