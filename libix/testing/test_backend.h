// Test helper: a libix backend that runs the real command processor in-process over a fake stack
// (dataplane/ixd/testing/fake_stack_ops.h), so libix and ixev are tested without a network.
#ifndef IX_LIBIX_TESTING_TEST_BACKEND_H_
#define IX_LIBIX_TESTING_TEST_BACKEND_H_

#include <memory>

#include "dataplane/ixd/processor.h"
#include "dataplane/ixd/qp_memory.h"
#include "dataplane/ixd/testing/fake_stack_ops.h"
#include "libix/inproc_map.h"
#include "libix/ix_internal.h"

namespace ix::lib::testing {

class TestBackend : public Backend {
 public:
  TestBackend(ixd::Processor* proc, const ixd::QpSizes& sizes) : proc_(proc) {
    mem_ = std::move(*ixd::QpMemory::Create(sizes, false));
    app_ = proc->AddApp("test");
    (void)proc->AddQueue(app_, mem_->view());
    map_ = MappingOf(mem_->view());
  }
  ~TestBackend() override { proc_->RemoveApp(app_); }

  void Iterate() {
    ++iterations;
    proc_->ProcessCommands(now_ns);
    proc_->PumpStackEvents();
    proc_->RunTimers(now_ns);
    proc_->FlushEvents();
  }
  void Kick(bool) override { Iterate(); }
  void Wait(int64_t, bool (*ready)(void*), void* arg) override {
    for (int i = 0; i < 4 && !ready(arg); ++i) Iterate();
  }
  int mode() const override { return IX_MODE_LIBRARY; }

  uint32_t app() const { return app_; }
  uint64_t now_ns = 0;
  uint64_t iterations = 0;

 private:
  ixd::Processor* proc_;
  std::unique_ptr<ixd::QpMemory> mem_;
  uint32_t app_ = 0;
};

}  // namespace ix::lib::testing

#endif  // IX_LIBIX_TESTING_TEST_BACKEND_H_
