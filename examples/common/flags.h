// The command line of ember's examples: `--name value` or `--name=value`, a few switches
// that take no value, and numbers read whole ("3x" is an error, not 3). Every error goes to
// the example's usage(), which prints its flags and exits.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

namespace examples {

class FlagValues {
 public:
  using Usage = void (*)(const std::string& why);  // prints the flags and exits

  // help: the line -h/--help prints; switches: the flag names that take no value.
  FlagValues(int argc, char** argv, Usage usage, const std::string& help,
             const std::set<std::string>& switches = {})
      : usage_(usage) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "-h" || arg == "--help") fail(help);
      if (!arg.starts_with("--")) fail("unexpected argument '" + arg + "'");
      if (switches.contains(arg.substr(2))) {
        switches_.insert(arg.substr(2));
        continue;
      }
      std::string value;
      if (auto eq = arg.find('='); eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        fail(arg + " needs a value");
      }
      values_[arg.substr(2)] = value;
    }
  }

  // The flags given with a value, by name without the dashes, in name order.
  const std::map<std::string, std::string>& values() const { return values_; }
  bool has(const std::string& name) const { return values_.contains(name); }
  bool has_switch(const std::string& name) const { return switches_.contains(name); }

  double number(const std::string& name, const std::string& v) const {
    try {
      size_t used = 0;
      const double d = std::stod(v, &used);
      if (used != v.size()) throw std::invalid_argument(v);
      return d;
    } catch (const std::exception&) {
      fail("--" + name + " needs a number, got '" + v + "'");
    }
  }
  int64_t integer(const std::string& name, const std::string& v) const {
    const double d = number(name, v);
    if (!(std::abs(d) < 1e15) || d != std::floor(d))
      fail("--" + name + " needs an integer, got '" + v + "'");
    return static_cast<int64_t>(d);
  }

  [[noreturn]] void fail(const std::string& why) const {
    usage_(why);
    std::abort();  // usage exits; never reached
  }

 private:
  Usage usage_;
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_;
};

}  // namespace examples
