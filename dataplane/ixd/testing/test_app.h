// Test helper: the application side of one queue pair in anonymous memory, registered with a
// Processor, with raw access to the rings (tests play both a good and a hostile application).
#ifndef IX_DATAPLANE_IXD_TESTING_TEST_APP_H_
#define IX_DATAPLANE_IXD_TESTING_TEST_APP_H_

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/qp_memory.h"
#include "ix/abi.h"

namespace ix::ixd::testing {

class TestApp {
 public:
  TestApp(Processor* p, const std::string& name, const QpSizes& sizes = {}) : p_(p) {
    mem_ = std::move(*QpMemory::Create(sizes, /*shareable=*/false));
    app_ = p->AddApp(name);
    queue_ = *p->AddQueue(app_, mem_->view());
  }

  ix_qp_header* header() const { return mem_->view().header; }
  uint8_t* tx() const { return const_cast<uint8_t*>(mem_->view().tx); }
  const uint8_t* rx() const { return mem_->view().rx; }
  uint32_t app() const { return app_; }
  const AppCounters& counters() const { return *p_->queue_counters(app_, queue_); }

  // Writes a command at cmd_prod and publishes it; returns its ring index.
  uint32_t Submit(const ix_cmd& cmd) {
    const uint32_t idx = prod_++;
    ix_cmd* slot = &mem_->view().cmds[idx & (mem_->view().cmd_entries - 1)];
    std::memcpy(static_cast<void*>(slot), &cmd, sizeof(cmd));
    ix_store_release(&header()->cmd_prod.value, prod_);
    return idx;
  }
  int64_t Ret(uint32_t idx) const {
    return ix_load_ret(&mem_->view().cmds[idx & (mem_->view().cmd_entries - 1)].ret);
  }
  bool Done(uint32_t idx) const {
    return static_cast<int32_t>(ix_load_acquire(&header()->cmd_cons.value) - idx) > 0;
  }
  // Takes every published event.
  std::vector<ix_event> Events() {
    std::vector<ix_event> out;
    const uint32_t prod = ix_load_acquire(&header()->ev_prod.value);
    while (cons_ != prod) {
      out.push_back(mem_->view().events[cons_ & (mem_->view().ev_entries - 1)]);
      ++cons_;
    }
    ix_store_release(&header()->ev_cons.value, cons_);
    return out;
  }
  // Copies bytes into the TX area at `off`.
  void PutTx(uint64_t off, const std::string& s) { std::memcpy(tx() + off, s.data(), s.size()); }
  std::string RxBytes(const ix_event& ev) const {
    return std::string(reinterpret_cast<const char*>(rx() + ev.data_off), ev.len);
  }
  void set_prod(uint32_t prod) { prod_ = prod; }
  uint32_t prod() const { return prod_; }

 private:
  Processor* p_;
  std::unique_ptr<QpMemory> mem_;
  uint32_t app_ = 0, queue_ = 0;
  uint32_t prod_ = 0, cons_ = 0;
};

inline ix_cmd Cmd(uint16_t op) {
  ix_cmd c{};
  c.op = op;
  return c;
}

}  // namespace ix::ixd::testing

#endif  // IX_DATAPLANE_IXD_TESTING_TEST_APP_H_
