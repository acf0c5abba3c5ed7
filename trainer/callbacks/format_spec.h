// Python's format-specification mini-language for one number, as `format(value, spec)`
// gives it: what ModelCheckpoint's filename templates ("{epoch:02d}", "{val_loss:.3f}")
// need, with Python's results to the character.
//
//   spec := [[fill]align][sign]["0"][width][.precision][type]
//   align: < > ^ =     sign: + - space     type: d, f F, e E, g G, %, or none
//
// An integer formats with d or none (no precision), or as a float with the others. A
// float with none and no precision is Python's repr ("0.1", "1.0", "1e-05"); with a
// precision it is g that keeps a ".0" (Python's rule). Not supported (a ValueError
// naming the spec): '#', 'z', grouping (',' '_'), and the types b o x X c n.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ember {

// format(value, spec) for a Python int.
std::string format_number(int64_t value, std::string_view spec);
// format(value, spec) for a Python float. Throws ValueError for 'd' (Python's
// "Unknown format code 'd' for object of type 'float'").
std::string format_number(double value, std::string_view spec);

}  // namespace ember
