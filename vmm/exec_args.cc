// Copies of execve's path, argument and environment vectors (see exec_args.h).
#include "vmm/exec_args.h"

#include <cerrno>
#include <cstring>

namespace ix::vmm {
namespace {

bool StartsWith(const char* s, const char* prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// Copies the NUL-terminated string at `gva` (at most `max` bytes with its NUL) into the arena,
// a page at a time so that no read crosses into a page the string does not reach.
long CopyString(const ArgCheckEnv& mem, uint64_t gva, size_t max, long too_long, ArgArena* arena, char** out) {
  char* start = nullptr;
  for (size_t len = 0;;) {
    size_t chunk = 4096 - ((gva + len) & 4095);
    if (chunk > max - len) chunk = max - len;
    if (chunk == 0) return too_long;
    auto* dst = static_cast<char*>(arena->Alloc(chunk, 1));
    if (dst == nullptr) return -E2BIG;
    if (start == nullptr) start = dst;
    if (!mem.read(mem.ctx, dst, gva + len, chunk)) return -EFAULT;
    if (const void* nul = memchr(dst, 0, chunk)) {
      size_t n = static_cast<const char*>(nul) - dst;
      arena->Shrink(chunk - n - 1);
      *out = start;
      return static_cast<long>(len + n);
    }
    len += chunk;
  }
}

// Copies the NULL-terminated pointer array at `gva` into the arena after `lead` free slots.
// *vec is the array (slots included), *n the number of pointers (without the NULL).
long CopyPointers(const ArgCheckEnv& mem, uint64_t gva, size_t lead, ArgArena* arena, uint64_t** vec, size_t* n) {
  auto* v = static_cast<uint64_t*>(arena->Alloc(lead * sizeof(uint64_t), sizeof(uint64_t)));
  if (v == nullptr) return -E2BIG;
  *vec = v;
  *n = 0;
  if (gva == 0) return 0;
  for (;;) {
    // Up to the page end (a word that straddles it is read alone: it needs both pages anyway).
    size_t chunk = (4096 - (gva & 4095)) / sizeof(uint64_t);
    if (chunk == 0) chunk = 1;
    auto* dst = static_cast<uint64_t*>(arena->Alloc(chunk * sizeof(uint64_t), 1));
    if (dst == nullptr) return -E2BIG;
    if (!mem.read(mem.ctx, dst, gva, chunk * sizeof(uint64_t))) return -EFAULT;
    for (size_t i = 0; i < chunk; ++i) {
      if (dst[i] == 0) {
        arena->Shrink((chunk - i) * sizeof(uint64_t));
        return 0;
      }
      ++*n;
    }
    gva += chunk * sizeof(uint64_t);
  }
}

// Replaces each of the n guest string pointers in v by a pointer to its copy.
long CopyStrings(const ArgCheckEnv& mem, uint64_t* v, size_t n, ArgArena* arena) {
  for (size_t i = 0; i < n; ++i) {
    char* s;
    if (long r = CopyString(mem, v[i], kMaxExecString, -E2BIG, arena, &s); r < 0) return r;
    v[i] = reinterpret_cast<uint64_t>(s);
  }
  return 0;
}

// Appends `s` (len bytes) to the string being built at the arena's top.
bool Append(ArgArena* arena, const char* s, size_t len) {
  auto* dst = static_cast<char*>(arena->Alloc(len, 1));
  if (dst == nullptr) return false;
  memcpy(dst, s, len);
  return true;
}

// LD_PRELOAD=<ours>[:<each of the program's own preload lists but ours>], in the arena.
char* BuildPreload(const ExecEnvironment& ix, char* const* env, size_t n, ArgArena* arena) {
  constexpr char kVar[] = "LD_PRELOAD=";
  constexpr size_t kVarLen = sizeof(kVar) - 1;
  auto* start = static_cast<char*>(arena->Alloc(0, 1));
  if (start == nullptr || !Append(arena, kVar, kVarLen) ||
      !Append(arena, ix.preload_path, strlen(ix.preload_path))) {
    return nullptr;
  }
  for (size_t i = 0; i < n; ++i) {
    if (!StartsWith(env[i], kVar)) continue;
    const char* theirs = env[i] + kVarLen;
    if (*theirs == 0 || strcmp(theirs, ix.preload_path) == 0) continue;
    if (!Append(arena, ":", 1) || !Append(arena, theirs, strlen(theirs))) return nullptr;
  }
  return Append(arena, "", 1) ? start : nullptr;
}

}  // namespace

long CopyExecArgs(const ArgCheckEnv& mem, uint64_t path, uint64_t argv, uint64_t envp,
                  const ExecEnvironment& ix, ArgArena* arena, ExecImage* out) {
  if (long r = CopyString(mem, path, kMaxExecPath, -ENAMETOOLONG, arena, &out->path); r < 0) return r;
  uint64_t* args;
  size_t nargs;
  if (long r = CopyPointers(mem, argv, 0, arena, &args, &nargs); r < 0) return r;
  // The terminating NULL follows the copied pointers directly (CopyPointers gave back its slot).
  if (arena->Alloc(sizeof(uint64_t), 1) == nullptr) return -E2BIG;
  args[nargs] = 0;
  if (long r = CopyStrings(mem, args, nargs, arena); r < 0) return r;
  out->argv = reinterpret_cast<char**>(args);

  uint64_t* theirs;
  size_t nenv;
  if (long r = CopyPointers(mem, envp, 0, arena, &theirs, &nenv); r < 0) return r;
  if (long r = CopyStrings(mem, theirs, nenv, arena); r < 0) return r;
  auto** env = reinterpret_cast<char**>(theirs);
  char* preload = BuildPreload(ix, env, nenv, arena);
  if (preload == nullptr) return -E2BIG;

  size_t nextra = 0;
  for (size_t off = 0; off < ix.extra_len; off += strlen(ix.extra + off) + 1) ++nextra;
  auto** vec = static_cast<char**>(arena->Alloc((2 + nextra + nenv + 1) * sizeof(char*), sizeof(char*)));
  if (vec == nullptr) return -E2BIG;
  *vec++ = nullptr;  // envp[-1], free
  size_t k = 0;
  vec[k++] = preload;
  for (size_t off = 0; off < ix.extra_len; off += strlen(ix.extra + off) + 1) {
    vec[k++] = const_cast<char*>(ix.extra + off);
  }
  for (size_t i = 0; i < nenv; ++i) {
    if (StartsWith(env[i], "IX_") || StartsWith(env[i], "LD_PRELOAD=")) continue;  // ours replace them
    vec[k++] = env[i];
  }
  vec[k] = nullptr;
  out->envp = vec;
  return 0;
}

char** PrependArgs(ArgArena* arena, char* const* front, size_t nfront, char* const* rest) {
  size_t n = 0;
  while (rest[n] != nullptr) ++n;
  auto** v = static_cast<char**>(arena->Alloc((nfront + n + 1) * sizeof(char*), sizeof(char*)));
  if (v == nullptr) return nullptr;
  memcpy(v, front, nfront * sizeof(char*));
  memcpy(v + nfront, rest, (n + 1) * sizeof(char*));
  return v;
}

}  // namespace ix::vmm
