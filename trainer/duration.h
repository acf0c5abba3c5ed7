// Lightning's "DD:HH:MM:SS" duration strings, shared by Trainer(max_time=...) and the
// Timer callback (both take the same strings, so both must accept and reject the same).
#pragma once

#include <string_view>

namespace ember {

// "DD:HH:MM:SS" -> seconds. Each of the four fields is a non-negative integer of at most
// nine digits (no signs, spaces or other characters). Throws ValueError naming `op` and
// `option` and quoting the text otherwise.
double parse_dd_hh_mm_ss(std::string_view text, const char* op, const char* option);

}  // namespace ember
