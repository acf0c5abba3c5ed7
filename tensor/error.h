// ember::Error and its kinds: the exceptions a user sees for a bad call.
//
// Every message names the op and the offending shapes or values, e.g.
//   "matmul: shapes [2, 3] and [4, 5] cannot be multiplied (3 != 4)".
// EMBER_CHECK is different: it guards ember's own invariants (a bug in ember,
// not in the caller) and reports file, line and the failed expression.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace ember {

class Error : public std::runtime_error {
 public:
  Error(std::string_view op, const std::string& what)
      : std::runtime_error(std::string(op) + ": " + what), op_(op) {}
  const std::string& op() const noexcept { return op_; }

 private:
  std::string op_;
};

// Shapes that do not fit together (broadcasting, matmul, view, cat, ...).
struct ShapeError : Error {
  using Error::Error;
};
// A dtype the op does not accept, or two inputs whose dtypes do not combine.
struct DTypeError : Error {
  using Error::Error;
};
// Inputs on different devices, or a device that is not available.
struct DeviceError : Error {
  using Error::Error;
};
// A dimension or element index out of range.
struct IndexError : Error {
  using Error::Error;
};
// Any other bad argument (negative size, step of zero, undefined tensor, ...).
struct ValueError : Error {
  using Error::Error;
};
// An invariant inside ember does not hold: a bug in ember, not in the caller.
struct InternalError : Error {
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string cat_str(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Throws E(op, message built from args). Used as
//   ember::fail<ShapeError>("view", "shape ", shape, " is invalid for ", n, " elements");
template <typename E = ValueError, typename... Args>
[[noreturn]] void fail(std::string_view op, Args&&... args) {
  throw E(op, detail::cat_str(std::forward<Args>(args)...));
}

}  // namespace ember

#define EMBER_STRINGIFY_(x) #x
#define EMBER_STRINGIFY(x) EMBER_STRINGIFY_(x)

// Internal invariant: on failure throws InternalError with file, line and expression.
#define EMBER_CHECK(cond, ...)                                                                    \
  do {                                                                                            \
    if (!(cond)) [[unlikely]] {                                                                   \
      ::ember::fail<::ember::InternalError>(                                                      \
          "internal", __FILE__ ":" EMBER_STRINGIFY(                                               \
                          __LINE__) ": check `" #cond "` failed" __VA_OPT__(": ", ) __VA_ARGS__); \
    }                                                                                             \
  } while (0)
