#include "trainer/duration.h"

#include <cctype>
#include <cstdint>
#include <string>

#include "tensor/error.h"

namespace ember {

double parse_dd_hh_mm_ss(std::string_view text, const char* op, const char* option) {
  int64_t fields[4] = {0, 0, 0, 0};
  int n = 0;       // fields completed
  int digits = 0;  // in the current field
  bool ok = true;
  for (size_t i = 0; i <= text.size() && ok; ++i) {
    const char c = i < text.size() ? text[i] : ':';  // a final ':' closes the last field
    if (c == ':') {
      ok = digits > 0 && n < 4;
      if (ok) ++n;
      digits = 0;
    } else if (std::isdigit(static_cast<unsigned char>(c)) && digits < 9 && n < 4) {
      fields[n] = fields[n] * 10 + (c - '0');  // at most 9 digits: no overflow
      ++digits;
    } else {
      ok = false;
    }
  }
  if (!ok || n != 4)
    fail<ValueError>(op, option, " must be \"DD:HH:MM:SS\" (e.g. \"00:12:00:00\"), got \"",
                     std::string(text), "\"");
  return static_cast<double>(((fields[0] * 24 + fields[1]) * 60 + fields[2]) * 60 + fields[3]);
}

}  // namespace ember
