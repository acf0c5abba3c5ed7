// Hyperparameters: the plain values a LightningModule is configured with (rates, sizes,
// names), saved into checkpoints and hparams.yaml. Injected submodules are not
// hyperparameters: a checkpoint restores them by weights into a model built again.
//
//   save_hyperparameters({{"lr", lr}, {"decoder", "attention"}, {"dim", 128}});
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace ember {

class HParam {
 public:
  using Value = std::variant<bool, int64_t, double, std::string>;
  HParam() = default;
  HParam(bool v) : value_(v) {}  // NOLINT: implicit, so brace lists read naturally
  template <std::integral T>
  requires(!std::same_as<T, bool>) HParam(T v) : value_(static_cast<int64_t>(v)) {}  // NOLINT
  HParam(double v) : value_(v) {}                                                    // NOLINT
  HParam(float v) : value_(static_cast<double>(v)) {}                                // NOLINT
  HParam(const char* v) : value_(std::string(v)) {}                                  // NOLINT
  HParam(std::string v) : value_(std::move(v)) {}                                    // NOLINT

  const Value& value() const { return value_; }
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  // Numbers as double (bool as 0/1); throws ValueError for a string.
  double as_double() const;
  std::string as_string() const;  // the string, or the number as text
  friend bool operator==(const HParam&, const HParam&) = default;

 private:
  Value value_ = false;
};

// In the order given (as Lightning keeps them).
using HParams = std::vector<std::pair<std::string, HParam>>;

// JSON object text and back (what checkpoints store), and the YAML of hparams.yaml.
std::string hparams_to_json(const HParams& hparams);
HParams hparams_from_json(const std::string& json);
std::string hparams_to_yaml(const HParams& hparams);

}  // namespace ember
