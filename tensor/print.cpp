// Tensor::to_string: PyTorch's layout and number formatting (torch/_tensor_str.py),
// with ember's dtype names: tensor([[1., 2.],\n        [3., 4.]], dtype=f64).
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tensor/raw.h"
#include "tensor/tensor.h"

namespace ember {

namespace {

constexpr int64_t kThreshold = 1000;  // summarize above this many elements
constexpr int64_t kEdgeItems = 3;
constexpr int64_t kLineWidth = 80;
constexpr int kPrecision = 4;

std::string printf_double(const char* fmt, double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, kPrecision, v);
  return buf;
}

// Chooses one format for all printed elements, as PyTorch's _Formatter does.
struct Formatter {
  DType dtype;
  bool int_mode = true;
  bool sci_mode = false;
  size_t width = 1;

  Formatter(DType dt, const std::vector<double>& values) : dtype(dt) {
    if (!is_floating(dt)) {
      for (double v : values) width = std::max(width, plain(v).size());
      return;
    }
    std::vector<double> finite;  // nonzero finite values
    for (double v : values)
      if (std::isfinite(v) && v != 0) finite.push_back(v);
    if (finite.empty()) return;
    double lo = std::fabs(finite[0]), hi = lo;
    for (double v : finite) {
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
      if (v != std::ceil(v)) int_mode = false;
    }
    if (int_mode) {
      sci_mode = hi / lo > 1000.0 || hi > 1.0e8;
    } else {
      sci_mode = hi / lo > 1000.0 || hi > 1.0e8 || lo < 1.0e-4;
    }
    for (double v : finite) {
      size_t len = sci_mode   ? printf_double("%.*e", v).size()
                   : int_mode ? printf_double("%.0f", v).size() + 1
                              : printf_double("%.*f", v).size();
      width = std::max(width, len);
    }
  }

  std::string plain(double v) const {
    if (dtype == DType::b8) return v != 0 ? "True" : "False";
    return std::to_string(static_cast<int64_t>(v));
  }

  std::string format(double v) const {
    std::string s;
    if (!is_floating(dtype)) {
      s = plain(v);
    } else if (sci_mode) {
      s = printf_double("%.*e", v);
    } else if (int_mode) {
      char buf[64];
      if (std::isfinite(v)) {
        std::snprintf(buf, sizeof buf, "%.0f.", v);
        s = buf;
      } else {
        s = printf_double("%.0f", v);
      }
    } else {
      s = printf_double("%.*f", v);
    }
    if (s.size() < width) s = std::string(width - s.size(), ' ') + s;
    return s;
  }
};

// The elements of `host` (a contiguous f64 cpu tensor) in printing order; when
// summarizing, only the first and last kEdgeItems of each dim.
void collect(const Tensor& t, bool summarize, std::vector<double>& out) {
  if (t.dim() == 0) {
    out.push_back(*static_cast<const double*>(t.raw_data()));
    return;
  }
  int64_t n = t.size(0);
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) i = n - kEdgeItems;
    collect(raw::select(t, 0, i), summarize, out);
  }
}

std::string vector_str(const Tensor& t, int64_t indent, bool summarize, const Formatter& f) {
  auto element_length = static_cast<int64_t>(f.width) + 2;
  int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / element_length);
  std::vector<std::string> data;
  int64_t n = t.size(0);
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      data.emplace_back(" ...");
      i = n - kEdgeItems;
    }
    data.push_back(f.format(*static_cast<const double*>(raw::select(t, 0, i).raw_data())));
  }
  std::string s = "[";
  for (size_t i = 0; i < data.size(); ++i) {
    if (i > 0) {
      s += i % per_line == 0 ? ",\n" + std::string(indent + 1, ' ') : ", ";
    }
    s += data[i];
  }
  return s + "]";
}

std::string tensor_str(const Tensor& t, int64_t indent, bool summarize, const Formatter& f) {
  if (t.dim() == 0) return f.format(*static_cast<const double*>(t.raw_data()));
  if (t.dim() == 1) return vector_str(t, indent, summarize, f);
  std::vector<std::string> slices;
  int64_t n = t.size(0);
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdgeItems && i == kEdgeItems) {
      slices.emplace_back("...");
      i = n - kEdgeItems;
    }
    slices.push_back(tensor_str(raw::select(t, 0, i), indent + 1, summarize, f));
  }
  std::string sep = "," + std::string(static_cast<size_t>(t.dim() - 1), '\n') +
                    std::string(static_cast<size_t>(indent + 1), ' ');
  std::string s = "[";
  for (size_t i = 0; i < slices.size(); ++i) {
    if (i > 0) s += sep;
    s += slices[i];
  }
  return s + "]";
}

std::string shape_tuple(const Shape& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + (s.size() == 1 ? ",)" : ")");
}

}  // namespace

std::string Tensor::to_string() const {
  if (!defined()) return "tensor(undefined)";
  const std::string prefix = "tensor(";
  const auto indent = static_cast<int64_t>(prefix.size());
  std::vector<std::string> suffixes;
  if (!device().is_cpu()) suffixes.push_back("device='" + device().str() + "'");
  std::string body;
  if (numel() == 0) {
    if (dim() != 1) suffixes.push_back("size=" + shape_tuple(sizes()));
    if (dtype() != DType::f32)
      suffixes.push_back("dtype=" + std::string(ember::to_string(dtype())));
    body = "[]";
  } else {
    // Printing is for people: read values in f64 on the host.
    Tensor host = raw::contiguous(raw::to_device(raw::cast(*this, DType::f64), Device::cpu()));
    bool summarize = numel() > kThreshold;
    std::vector<double> shown;
    collect(host, summarize, shown);
    Formatter f(dtype(), shown);
    body = tensor_str(host, indent, summarize, f);
    // As torch: the default float and the integer and bool dtypes a literal would get go
    // unnamed, every other dtype is named.
    if (dtype() != DType::f32 && dtype() != DType::i64 && dtype() != DType::b8)
      suffixes.push_back("dtype=" + std::string(ember::to_string(dtype())));
  }
  if (requires_grad() && is_leaf()) suffixes.push_back("requires_grad=True");
  if (!is_leaf()) suffixes.push_back("grad_fn=<" + detail::grad_fn_name(*this) + ">");

  std::string s = prefix + body;
  size_t nl = s.rfind('\n');
  auto last_line_len =
      static_cast<int64_t>(nl == std::string::npos ? s.size() + 2 : s.size() - nl + 1);
  for (const std::string& suffix : suffixes) {
    auto len = static_cast<int64_t>(suffix.size());
    if (last_line_len + len + 2 > kLineWidth) {
      s += ",\n" + std::string(static_cast<size_t>(indent), ' ') + suffix;
      last_line_len = indent + len;
    } else {
      s += ", " + suffix;
      last_line_len += len + 2;
    }
  }
  return s + ")";
}

}  // namespace ember
