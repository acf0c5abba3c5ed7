// Fuzz target for the safetensors parser: any byte string must parse or raise an
// ember::Error, never crash, hang or read out of bounds.
//
// Built two ways: with libFuzzer (scripts/fuzz.sh, clang, -fsanitize=fuzzer,address),
// and as a plain program that replays the checked-in corpus (a ctest in every build).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include "nn/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    ember::nn::SafetensorsFile f = ember::nn::parse_safetensors(data, size);
    // What parsed must serialize again to a file that parses to the same tensors.
    std::string again = ember::nn::serialize_safetensors(f.tensors, f.metadata);
    ember::nn::SafetensorsFile g =
        ember::nn::parse_safetensors(reinterpret_cast<const uint8_t*>(again.data()), again.size());
    if (g.tensors.size() != f.tensors.size()) __builtin_trap();
  } catch (const ember::Error&) {
    // A clean refusal is the expected outcome for most inputs.
  }
  return 0;
}

#ifdef EMBER_FUZZ_REPLAY
int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "cannot open %s\n", argv[i]);
      return 2;
    }
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("replayed %d inputs\n", argc - 1);
  return 0;
}
#endif
