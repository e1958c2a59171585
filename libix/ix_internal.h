// libix internals: the context of one queue pair and the backend that moves it (ixd attach or the
// in-process stack). Not installed.
#ifndef IX_LIBIX_IX_INTERNAL_H_
#define IX_LIBIX_IX_INTERNAL_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "libix/ix.h"

namespace ix::lib {

// The application side's mapping of one queue pair.
struct QpMapping {
  ix_qp_header* header = nullptr;
  ix_cmd* cmds = nullptr;
  ix_event* events = nullptr;
  uint32_t cmd_entries = 0;
  uint32_t ev_entries = 0;
  uint8_t* tx = nullptr;
  uint64_t tx_bytes = 0;
  const uint8_t* rx = nullptr;
  uint64_t rx_bytes = 0;
};

// Moves one queue pair: makes published commands known to the dataplane and waits for progress.
class Backend {
 public:
  virtual ~Backend() = default;
  // Called by ix_flush; `published` says whether new commands became visible.
  virtual void Kick(bool published) = 0;
  // Waits up to timeout_ns (< 0: forever) until `ready()` holds; returns when it does or on
  // timeout. Library mode runs the stack meanwhile.
  virtual void Wait(int64_t timeout_ns, bool (*ready)(void*), void* arg) = 0;
  virtual int mode() const = 0;
  // True once the dataplane is known to be gone (ixd exited): ix_poll then fails.
  virtual bool dead() const { return false; }
  const QpMapping& map() const { return map_; }

 protected:
  QpMapping map_;
};

// Creates the backends (backend_ixd.cc, backend_local.cc). n = queue pairs.
int CreateIxdBackends(const ix_options& o, unsigned n, std::vector<std::unique_ptr<Backend>>* out,
                      std::string* error);
int CreateLocalBackend(const ix_options& o, std::unique_ptr<Backend>* out, std::string* error);

uint64_t NowNs();

}  // namespace ix::lib

struct ix_ctx;
namespace ix::lib {
// Wraps a backend in a context (ix_init does this; unit tests use it with test backends).
ix_ctx* NewContext(std::unique_ptr<Backend> b);
}  // namespace ix::lib

struct ix_ctx {
  std::unique_ptr<ix::lib::Backend> backend;
  ix::lib::QpMapping m;
  uint32_t prod = 0;       // next command slot (published up to `published`)
  uint32_t published = 0;
  uint32_t done = 0;       // completions collected up to here
  uint32_t ev_cons = 0;
  struct SlotInfo {
    uint16_t op;
    uint32_t id;
    uint64_t cookie;
    uint64_t tx_mark;  // TX head when the command was queued
  };
  std::vector<SlotInfo> slots;
  uint64_t tx_head = 0;  // logical positions in the TX ring
  uint64_t tx_tail = 0;
  std::deque<ix_event> completions;
};

#endif  // IX_LIBIX_IX_INTERNAL_H_
