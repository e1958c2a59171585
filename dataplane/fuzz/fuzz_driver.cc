// A stand-in for libFuzzer's main where clang/libFuzzer is not available (gcc builds): feeds
// LLVMFuzzerTestOneInput every file given on the command line, then seeded random and mutated
// inputs until -max_total_time=S seconds (default 10) or -runs=N inputs have run. No coverage
// guidance: a smoke test, not a fuzzer.
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void RunFile(const std::string& path, std::vector<std::vector<uint8_t>>* corpus) {
  std::ifstream f(path, std::ios::binary);
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(data.data(), data.size());
  corpus->push_back(std::move(data));
}

}  // namespace

int main(int argc, char** argv) {
  double max_time = 10;
  long runs = -1;
  std::vector<std::vector<uint8_t>> corpus;
  for (int i = 1; i < argc; ++i) {
    if (strncmp(argv[i], "-max_total_time=", 16) == 0) {
      max_time = atof(argv[i] + 16);
    } else if (strncmp(argv[i], "-runs=", 6) == 0) {
      runs = atol(argv[i] + 6);
    } else if (argv[i][0] == '-') {
      continue;  // other libFuzzer flags
    } else {
      struct stat st;
      if (stat(argv[i], &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        if (DIR* d = opendir(argv[i])) {
          while (dirent* e = readdir(d)) {
            if (e->d_name[0] != '.') RunFile(std::string(argv[i]) + "/" + e->d_name, &corpus);
          }
          closedir(d);
        }
      } else {
        RunFile(argv[i], &corpus);
      }
    }
  }
  std::mt19937_64 rng(12345);
  const double end = Now() + max_time;
  long n = 0;
  std::vector<uint8_t> input;
  while ((runs < 0 || n < runs) && Now() < end) {
    if (!corpus.empty() && rng() % 2 == 0) {
      input = corpus[rng() % corpus.size()];
      for (int m = 0, k = 1 + static_cast<int>(rng() % 8); m < k && !input.empty(); ++m) {
        input[rng() % input.size()] = static_cast<uint8_t>(rng());
      }
    } else {
      input.resize(rng() % 4096);
      for (uint8_t& b : input) b = static_cast<uint8_t>(rng());
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++n;
  }
  printf("fuzz_driver: %ld inputs in %.1f s, no crash\n", n, max_time);
  return 0;
}
