// The shared areas of one queue pair (include/ix/abi.h): the queue-pair area, the TX area and the
// RX area, each in its own memfd (ixd: passed to the app, sealed) or anonymous memory (library
// mode and tests), mapped read-write for the dataplane.
//
//   absl::StatusOr<std::unique_ptr<QpMemory>> m = QpMemory::Create(QpSizes{}, /*shareable=*/true);
//   processor.AddQueue(app, (*m)->view());
//   SendFds((*m)->area_fd(), (*m)->tx_fd(), (*m)->rx_fd());  // after Seal()
#ifndef IX_DATAPLANE_IXD_QP_MEMORY_H_
#define IX_DATAPLANE_IXD_QP_MEMORY_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataplane/ixd/processor.h"
#include "ix/abi.h"

namespace ix::ixd {

struct QpSizes {
  uint32_t cmd_entries = 256;
  uint32_t ev_entries = 1024;
  uint32_t rx_buf_count = 1024;
  uint32_t rx_buf_size = 2048;
  uint64_t tx_bytes = 1 << 20;
};

// Checks sizes against the ABI limits (powers of two, ranges). Zero fields take the defaults.
absl::StatusOr<QpSizes> NormalizeQpSizes(const QpSizes& requested);

class QpMemory {
 public:
  // shareable: memfds (fds valid) instead of anonymous mappings (fds -1).
  static absl::StatusOr<std::unique_ptr<QpMemory>> Create(const QpSizes& sizes, bool shareable);
  ~QpMemory();  // unmaps and closes everything
  QpMemory(const QpMemory&) = delete;
  QpMemory& operator=(const QpMemory&) = delete;

  // Seals the memfds: no resizing (F_SEAL_SHRINK|F_SEAL_GROW), no further seals, and for the RX
  // area F_SEAL_FUTURE_WRITE so that the app cannot map it writable (our own mapping stays).
  absl::Status Seal();

  const QpView& view() const { return view_; }
  const QpSizes& sizes() const { return sizes_; }
  uint64_t area_bytes() const { return area_bytes_; }
  uint64_t rx_bytes() const { return rx_bytes_; }
  int area_fd() const { return area_fd_; }
  int tx_fd() const { return tx_fd_; }
  int rx_fd() const { return rx_fd_; }

 private:
  QpMemory() = default;

  QpSizes sizes_;
  QpView view_;
  uint64_t area_bytes_ = 0, rx_bytes_ = 0;
  void* area_ = nullptr;
  void* tx_ = nullptr;
  void* rx_ = nullptr;
  int area_fd_ = -1, tx_fd_ = -1, rx_fd_ = -1;
};

}  // namespace ix::ixd

#endif  // IX_DATAPLANE_IXD_QP_MEMORY_H_
