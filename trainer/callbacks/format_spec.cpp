#include "trainer/callbacks/format_spec.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tensor/error.h"

namespace ember {

namespace {

struct Spec {
  char fill = ' ', align = 0, sign = '-', type = 0;
  int64_t width = 0, precision = -1;
};

bool is_align(char c) { return c == '<' || c == '>' || c == '^' || c == '='; }

int64_t read_int(std::string_view s, size_t& i) {
  int64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i)
    v = std::min<int64_t>(v * 10 + (s[i] - '0'), 1 << 20);
  return v;
}

Spec parse(std::string_view s) {
  Spec p;
  size_t i = 0;
  bool fill_given = false;
  if (s.size() >= 2 && is_align(s[1])) {
    p.fill = s[0];
    p.align = s[1];
    fill_given = true;
    i = 2;
  } else if (!s.empty() && is_align(s[0])) {
    p.align = s[0];
    i = 1;
  }
  if (i < s.size() && (s[i] == '+' || s[i] == '-' || s[i] == ' ')) p.sign = s[i++];
  if (i < s.size() && (s[i] == '#' || s[i] == 'z'))
    fail<ValueError>("format", "'", s[i], "' in format spec '", s, "' is not supported");
  // A leading '0' is sign-aware zero padding (Python): fill '0', align '=' unless given.
  if (i < s.size() && s[i] == '0') {
    if (!fill_given) p.fill = '0';
    if (!p.align) p.align = '=';
    ++i;
  }
  p.width = read_int(s, i);
  if (i < s.size() && (s[i] == ',' || s[i] == '_'))
    fail<ValueError>("format", "grouping '", s[i], "' in format spec '", s, "' is not supported");
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    p.precision = read_int(s, i);
    if (i == start) fail<ValueError>("format", "format spec '", s, "' is missing its precision");
  }
  if (i < s.size()) p.type = s[i++];
  if (i != s.size() || (p.type && std::string_view("dfFeEgG%").find(p.type) == std::string::npos))
    fail<ValueError>("format", "invalid format spec '", s,
                     "' (supported: [[fill]align][sign][0][width][.precision][d|f|F|e|E|g|G|%])");
  return p;
}

// Sign, then fill to the width as the alignment says (numbers align right by default).
std::string pad(const Spec& p, bool negative, std::string digits) {
  const std::string sign = negative ? "-" : p.sign == '+' ? "+" : p.sign == ' ' ? " " : "";
  const int64_t n = p.width - static_cast<int64_t>(sign.size() + digits.size());
  if (n <= 0) return sign + digits;
  const auto fill = [&](int64_t k) { return std::string(static_cast<size_t>(k), p.fill); };
  switch (p.align) {
    case '<': return sign + digits + fill(n);
    case '^': return fill(n / 2) + sign + digits + fill(n - n / 2);
    case '=': return sign + fill(n) + digits;
    default: return fill(n) + sign + digits;
  }
}

// Significant digits d (no leading zeros) times 10^(decpt - size(d)), laid out as
// CPython's format_float_short does: scientific "d.ddde+XX", or fixed.
std::string layout(const std::string& d, int64_t decpt, bool scientific, bool add_dot_0) {
  if (scientific) {
    const int64_t e = decpt - 1;
    const std::string magnitude = std::to_string(std::llabs(e));  // at least 2 digits
    const std::string exp =
        std::string("e") + (e < 0 ? '-' : '+') + (magnitude.size() < 2 ? "0" : "") + magnitude;
    return d.substr(0, 1) + (d.size() > 1 ? "." + d.substr(1) : "") + exp;
  }
  const auto n = static_cast<int64_t>(d.size());
  std::string out;
  if (decpt <= 0) out = "0." + std::string(static_cast<size_t>(-decpt), '0') + d;
  else if (decpt >= n) out = d + std::string(static_cast<size_t>(decpt - n), '0');
  else out = d.substr(0, static_cast<size_t>(decpt)) + "." + d.substr(static_cast<size_t>(decpt));
  if (add_dot_0 && out.find('.') == std::string::npos) out += ".0";
  return out;
}

// Splits "1.2300e-05" (from printf %e or to_chars scientific) into its significant
// digits without trailing zeros ("123") and the decimal point position (-4).
std::string split_scientific(const std::string& s, int64_t& decpt) {
  const size_t e = s.find('e');
  std::string d;
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.') d += s[i];
  while (d.size() > 1 && d.back() == '0') d.pop_back();
  decpt = std::strtoll(s.c_str() + e + 1, nullptr, 10) + 1;
  return d;
}

std::string printf_number(const char* conv, int64_t precision, double v) {
  const char fmt[5] = {'%', '.', '*', conv[0], 0};
  const int p = static_cast<int>(precision);
  // Sized first: "%.*f" of 1e300 has over 300 digits.
  const int n = std::snprintf(nullptr, 0, fmt, p, v);
  std::string out(static_cast<size_t>(n) + 1, '\0');
  std::snprintf(out.data(), out.size(), fmt, p, v);
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string format_float(double value, const Spec& p) {
  const bool upper = p.type == 'F' || p.type == 'E' || p.type == 'G';
  const bool negative = std::signbit(value) && !std::isnan(value);
  const double a = std::abs(value);
  std::string body;
  if (!std::isfinite(a)) {
    body = std::isnan(a) ? "nan" : "inf";
    if (upper) body = std::isnan(a) ? "NAN" : "INF";
    if (p.type == '%') body += "%";
    return pad(p, negative, body);
  }
  const int64_t prec = p.precision < 0 ? 6 : p.precision;
  switch (p.type) {
    case 'f':
    case 'F': body = printf_number("f", prec, a); break;
    case 'e': body = printf_number("e", prec, a); break;
    case 'E': body = printf_number("E", prec, a); break;
    case 'g': body = printf_number("g", std::max<int64_t>(prec, 1), a); break;
    case 'G': body = printf_number("G", std::max<int64_t>(prec, 1), a); break;
    case '%': body = printf_number("f", prec, a * 100) + "%"; break;
    default: {
      int64_t decpt = 0;
      if (p.precision < 0) {  // repr: the shortest digits that read back to the same double
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, a, std::chars_format::scientific);
        const std::string d = split_scientific(std::string(buf, r.ptr), decpt);
        body = layout(d, decpt, decpt <= -4 || decpt > 16, true);
      } else {  // g with a kept ".0", scientific from exponent precision - 1 on (CPython)
        const int64_t digits = std::max<int64_t>(p.precision, 1);
        const std::string d = split_scientific(printf_number("e", digits - 1, a), decpt);
        body = layout(d, decpt, decpt <= -4 || decpt > digits - 1, true);
      }
    }
  }
  return pad(p, negative, body);
}

}  // namespace

std::string format_number(int64_t value, std::string_view spec) {
  const Spec p = parse(spec);
  if (p.type && p.type != 'd') return format_float(static_cast<double>(value), p);
  if (p.precision >= 0)
    fail<ValueError>("format", "precision is not allowed for an integer (format spec '", spec,
                     "', value ", value, ")");
  const uint64_t mag = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
  return pad(p, value < 0, std::to_string(mag));
}

std::string format_number(double value, std::string_view spec) {
  const Spec p = parse(spec);
  if (p.type == 'd')
    fail<ValueError>("format", "'d' is for integers; the value ", value,
                     " is a float (format spec '", spec, "'; use '.0f')");
  return format_float(value, p);
}

}  // namespace ember
