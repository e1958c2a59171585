// A fixed-size, allocation-free line formatter for messages written on the VMM's exit path, where
// stdio and malloc may be held by the interrupted guest.
#ifndef IX_VMM_LINE_BUF_H_
#define IX_VMM_LINE_BUF_H_

#include <cstdint>

namespace ix::vmm {

struct LineBuf {
  char buf[512];
  int len = 0;
  void Put(const char* s) {
    while (*s && len < static_cast<int>(sizeof(buf)) - 1) buf[len++] = *s++;
  }
  void Hex(uint64_t v) {
    char tmp[19];
    int n = 0;
    do {
      tmp[n++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v);
    Put("0x");
    while (n && len < static_cast<int>(sizeof(buf)) - 1) buf[len++] = tmp[--n];
  }
  void Dec(long v) {
    char tmp[21];
    int n = 0;
    uint64_t u = v < 0 ? -static_cast<uint64_t>(v) : v;
    do {
      tmp[n++] = '0' + u % 10;
      u /= 10;
    } while (u);
    if (v < 0) Put("-");
    while (n && len < static_cast<int>(sizeof(buf)) - 1) buf[len++] = tmp[--n];
  }
  const char* c_str() {
    buf[len] = 0;
    return buf;
  }
};

}  // namespace ix::vmm

#endif  // IX_VMM_LINE_BUF_H_
