// The app's view of a queue pair that lives in this process (library mode, tests): the QpMapping
// libix works on, taken from the dataplane's QpMemory view of the same memory.
#ifndef IX_LIBIX_INPROC_MAP_H_
#define IX_LIBIX_INPROC_MAP_H_

#include <cstdint>

#include "dataplane/ixd/qp_memory.h"
#include "libix/ix_internal.h"

namespace ix::lib {

inline QpMapping MappingOf(const ixd::QpView& v) {
  QpMapping m;
  m.header = v.header;
  m.cmds = v.cmds;
  m.events = v.events;
  m.cmd_entries = v.cmd_entries;
  m.ev_entries = v.ev_entries;
  m.tx = const_cast<uint8_t*>(v.tx);
  m.tx_bytes = v.tx_bytes;
  m.rx = v.rx;
  m.rx_bytes = uint64_t{v.rx_buf_count} * v.rx_buf_size;
  return m;
}

}  // namespace ix::lib

#endif  // IX_LIBIX_INPROC_MAP_H_
