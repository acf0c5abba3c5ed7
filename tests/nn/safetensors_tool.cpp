// A small program for the Python interoperability test (tests/nn/safetensors_interop.py):
//   safetensors_tool write PATH   writes known tensors with ember
//   safetensors_tool check PATH   loads a file written by Python's safetensors and checks it
#include <cmath>
#include <cstdio>
#include <string>

#include <ember/ember.h>

using namespace ember;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s write|check PATH\n", argv[0]);
    return 2;
  }
  std::string cmd = argv[1], path = argv[2];
  if (cmd == "write") {
    nn::StateDict d;
    d.insert("encoder.weight", arange(12, {.dtype = DType::f32}).reshape({3, 4}) * 0.5);
    d.insert("encoder.bias", arange(3, {.dtype = DType::f64}) - 1.0);
    d.insert("steps", arange(5));
    d.insert("mask", from_vector<bool>({true, false, true}));
    nn::save_safetensors(path, d, {{"written_by", "ember"}});
    return 0;
  }
  if (cmd == "check") {
    // Python wrote: a = arange(6).reshape(2, 3) / 4 as f32, b = [-1, 2] as f64, c = [7, 8, 9] as
    // i64.
    nn::SafetensorsFile f = nn::load_safetensors(path);
    bool ok = f.tensors.size() == 3;
    ok = ok && equal(f.tensors.at("a"), arange(6, {.dtype = DType::f32}).reshape({2, 3}) / 4.0);
    ok = ok && equal(f.tensors.at("b"), from_vector<double>({-1, 2}));
    ok = ok && equal(f.tensors.at("c"), from_vector<int64_t>({7, 8, 9}));
    ok = ok && f.metadata.count("written_by") && f.metadata.at("written_by") == "python";
    std::printf("%s\n", ok ? "ember read python's file: ok" : "ember read python's file: MISMATCH");
    return ok ? 0 : 1;
  }
  return 2;
}
