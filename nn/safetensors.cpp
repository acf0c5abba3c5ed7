#include "nn/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::nn {

namespace {

using json = nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");

const char* st_dtype(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i64: return "I64";
    case DType::b8: return "BOOL";
    case DType::bf16: return "BF16";  // the 16-bit and small integer dtypes (issue 16)
    case DType::f16: return "F16";
    case DType::i32: return "I32";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32") *out = DType::f32;
  else if (s == "F64") *out = DType::f64;
  else if (s == "I64") *out = DType::i64;
  else if (s == "BOOL") *out = DType::b8;
  else if (s == "BF16") *out = DType::bf16;
  else if (s == "F16") *out = DType::f16;
  else if (s == "I32") *out = DType::i32;
  else if (s == "I8") *out = DType::i8;
  else if (s == "U8") *out = DType::u8;
  else return false;
  return true;
}

// The name under which a tensor viewing the same bytes as t (same storage, offset, shape,
// strides and dtype) was written, or null. Partial overlaps are written as copies.
const std::string* find_alias(const std::vector<std::pair<Tensor, std::string>>& written,
                              const Tensor& t) {
  for (const auto& [w, name] : written)
    if (w.storage() == t.storage() && w.storage_offset() == t.storage_offset() &&
        w.sizes() == t.sizes() && w.strides() == t.strides() && w.dtype() == t.dtype())
      return &name;
  return nullptr;
}

[[noreturn]] void corrupt(const std::string& why) {
  fail<ValueError>("load_safetensors", "corrupt file: ", why);
}

}  // namespace

std::string serialize_safetensors(const StateDict& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::map<std::string, std::string> meta = metadata;
  std::vector<Tensor> host;
  std::vector<std::pair<Tensor, std::string>> written;  // for finding aliases
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") fail<ValueError>("save_safetensors", "'__metadata__' is reserved");
    if (!t.defined()) fail<ValueError>("save_safetensors", "tensor '", name, "' is undefined");
    // A tensor already written under another name (a tied weight: state_dict() lists it under
    // each) is written once and its extra name recorded in __metadata__ as {alias: kept}, as
    // the safetensors package's save_model does; the loaders below restore it.
    if (const std::string* kept = find_alias(written, t)) {
      meta.emplace(name, *kept);  // user metadata under that key wins, as in save_model
      continue;
    }
    written.emplace_back(t, name);
    Tensor h = t.detach().to(Device::cpu()).contiguous();
    uint64_t n = static_cast<uint64_t>(h.numel()) * h.element_size();
    header[name] = {{"dtype", st_dtype(h.dtype())},
                    {"shape", h.sizes()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    host.push_back(h);
  }
  if (!meta.empty()) header["__metadata__"] = meta;
  std::string head = header.dump();
  while (head.size() % 8 != 0) head.push_back(' ');  // the data starts 8-byte aligned
  std::string out;
  out.reserve(8 + head.size() + offset);
  uint64_t n = head.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += head;
  for (const Tensor& h : host)
    out.append(static_cast<const char*>(h.raw_data()),
               static_cast<size_t>(h.numel()) * h.element_size());
  return out;
}

void save_safetensors(const std::string& path, const StateDict& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, serialize_safetensors(tensors, metadata));
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, Device device) {
  if (size < 8)
    corrupt("shorter than the 8-byte header length (" + std::to_string(size) + " bytes)");
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kMaxSafetensorsHeader)
    corrupt("header length " + std::to_string(n) + " exceeds the 100 MiB limit");
  if (n > size - 8)
    corrupt("header length " + std::to_string(n) + " runs past the end of the file (" +
            std::to_string(size) + " bytes)");
  const uint8_t* buffer = data + 8 + n;
  const uint64_t buffer_len = size - 8 - n;

  json header;
  try {
    header = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    corrupt(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) corrupt("header is not a JSON object");

  SafetensorsFile file;
  struct Span {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Span> spans;
  std::vector<std::pair<std::string, std::tuple<DType, Shape, uint64_t, uint64_t>>> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) corrupt("__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          corrupt("__metadata__ value of '" + m.key() + "' is not a string");
        file.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets"))
      corrupt("entry '" + name + "' needs dtype, shape and data_offsets");
    const json& jd = v["dtype"];
    const json& js = v["shape"];
    const json& jo = v["data_offsets"];
    DType dt{};
    if (!jd.is_string() || !parse_dtype(jd.get<std::string>(), &dt))
      corrupt("entry '" + name + "' has an unsupported dtype " + jd.dump());
    if (!js.is_array()) corrupt("entry '" + name + "' shape is not an array");
    Shape shape;
    uint64_t count = 1;
    for (const json& d : js) {
      if (!d.is_number_unsigned()) corrupt("entry '" + name + "' shape holds " + d.dump());
      uint64_t s = d.get<uint64_t>();
      if (s > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (s != 0 && count > std::numeric_limits<uint64_t>::max() / s / 8))
        corrupt("entry '" + name + "' shape is too large");
      count *= s;
      shape.push_back(static_cast<int64_t>(s));
    }
    if (!jo.is_array() || jo.size() != 2 || !jo[0].is_number_unsigned() ||
        !jo[1].is_number_unsigned())
      corrupt("entry '" + name + "' data_offsets must be two unsigned integers");
    uint64_t b = jo[0].get<uint64_t>(), e = jo[1].get<uint64_t>();
    if (b > e || e > buffer_len)
      corrupt("entry '" + name + "' data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
              "] fall outside the " + std::to_string(buffer_len) + "-byte data");
    if (e - b != count * element_size(dt))
      corrupt("entry '" + name + "' has " + std::to_string(e - b) + " bytes for shape " +
              str(shape) + " of " + st_dtype(dt));
    spans.push_back({b, e, name});
    entries.emplace_back(name, std::make_tuple(dt, shape, b, e));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) {
    return x.begin < y.begin || (x.begin == y.begin && x.end < y.end);
  });
  uint64_t expect = 0;
  for (const Span& s : spans) {
    if (s.begin != expect)
      corrupt("tensor '" + s.name +
              "' does not start where the previous one ends (hole or overlap)");
    expect = s.end;
  }
  if (expect != buffer_len)
    corrupt("the data holds " + std::to_string(buffer_len - expect) + " bytes no tensor covers");

  // Tensors come back in the order of their data (the order they were saved in).
  std::sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) {
    return std::get<2>(x.second) < std::get<2>(y.second);
  });
  for (const auto& [name, info] : entries) {
    const auto& [dt, shape, b, e] = info;
    Tensor t = raw::empty(shape, dt, Device::cpu());
    if (e > b) std::memcpy(t.raw_data(), buffer + b, e - b);
    if (dt == DType::b8) {  // only 0 and 1 are bools
      auto* p = static_cast<uint8_t*>(t.raw_data());
      for (uint64_t i = 0; i < e - b; ++i)
        if (p[i] > 1) corrupt("entry '" + name + "' holds a BOOL byte that is neither 0 nor 1");
    }
    file.tensors.insert(name, raw::to_device(t, device));
  }
  // Aliases written by save_safetensors or the safetensors package's save_model: a metadata
  // entry whose key is no tensor of the file and whose value is one names the same tensor
  // (the loaded dict holds both keys, one tensor, as torch's state_dict of a tied model).
  for (const auto& [alias, kept] : file.metadata)
    if (!file.tensors.contains(alias) && alias != "__metadata__")
      if (const Tensor* t = file.tensors.find(kept)) file.tensors.insert(alias, *t);
  return file;
}

SafetensorsFile load_safetensors(const std::string& path, Device device) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail<ValueError>("load_safetensors", "cannot open '", path, "'");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  try {
    return parse_safetensors(bytes.data(), bytes.size(), device);
  } catch (const Error& e) {
    fail<ValueError>("load_safetensors", "'", path, "': ", e.what());
  }
}

void save(const Module& module, const std::string& path,
          const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module.state_dict(), metadata);
}

LoadResult load(Module& module, const std::string& path, bool strict) {
  Device device = Device::cpu();
  auto params = module.parameters();
  if (!params.empty()) device = params.front().device();
  return module.load_state_dict(load_safetensors(path, device).tensors, strict);
}

}  // namespace ember::nn
