// A small program for the Python interoperability test (tests/nn/safetensors_interop.py):
//   safetensors_tool write PATH   writes known tensors with ember
//   safetensors_tool check PATH   loads a file written by Python's safetensors and checks it
//   safetensors_tool write16 PATH / check16 PATH: the same with BF16, F16, I32, I8, U8
#include <cmath>
#include <cstdio>
#include <string>

#include <ember/ember.h>

using namespace ember;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s write|check|write16|check16 PATH\n", argv[0]);
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
  // The dtypes of issue 16, compared through f64 (integer ops on them are not all there).
  auto same = [](const Tensor& t, DType dt, const std::vector<double>& want) {
    return t.dtype() == dt && t.to(DType::f64).to_vector<double>() == want;
  };
  if (cmd == "write16") {
    nn::StateDict d;
    d.insert("h", from_vector<double>({1.5, -2, 65504, std::ldexp(1.0, -24)}).to(DType::f16));
    d.insert("w", from_vector<double>({1, -2.5, 0.1}).to(DType::bf16));
    d.insert("i", from_vector<int64_t>({-7, 100000}).to(DType::i32));
    d.insert("c", from_vector<int64_t>({-128, 127}).to(DType::i8));
    d.insert("u", from_vector<int64_t>({0, 255}).to(DType::u8));
    nn::save_safetensors(path, d);
    return 0;
  }
  if (cmd == "check16") {
    // Python wrote h = [0.5, -3, 2^-24] as f16, i = [-7, 100000] as i32, c = [-128, 127] as i8,
    // u = [0, 255] as u8.
    nn::SafetensorsFile f = nn::load_safetensors(path);
    bool ok = f.tensors.size() == 4;
    ok = ok && same(f.tensors.at("h"), DType::f16, {0.5, -3, std::ldexp(1.0, -24)});
    ok = ok && same(f.tensors.at("i"), DType::i32, {-7, 100000});
    ok = ok && same(f.tensors.at("c"), DType::i8, {-128, 127});
    ok = ok && same(f.tensors.at("u"), DType::u8, {0, 255});
    std::printf("%s\n", ok ? "ember read python's 16-bit file: ok"
                           : "ember read python's 16-bit file: MISMATCH");
    return ok ? 0 : 1;
  }
  return 2;
}
