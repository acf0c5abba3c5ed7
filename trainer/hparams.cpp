#include "trainer/hparams.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace ember {

double HParam::as_double() const {
  if (auto* b = std::get_if<bool>(&value_)) return *b ? 1.0 : 0.0;
  if (auto* i = std::get_if<int64_t>(&value_)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&value_)) return *d;
  fail<ValueError>("HParam", "'", std::get<std::string>(value_), "' is a string, not a number");
}

namespace {
std::string number_text(double d) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);  // the shortest text that reads back exactly
  return std::string(buf, res.ptr);
}
}  // namespace

std::string HParam::as_string() const {
  if (auto* s = std::get_if<std::string>(&value_)) return *s;
  if (auto* b = std::get_if<bool>(&value_)) return *b ? "true" : "false";
  if (auto* i = std::get_if<int64_t>(&value_)) return std::to_string(*i);
  return number_text(std::get<double>(value_));
}

std::string hparams_to_json(const HParams& hparams) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : hparams)
    std::visit([&, key = k](const auto& x) { j[key] = x; }, v.value());
  return j.dump();
}

HParams hparams_from_json(const std::string& text) {
  nlohmann::ordered_json j;
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const std::exception& e) {
    fail<ValueError>("hparams_from_json", "not valid JSON: ", e.what());
  }
  if (!j.is_object()) fail<ValueError>("hparams_from_json", "expected a JSON object");
  HParams out;
  for (const auto& [k, v] : j.items()) {
    if (v.is_boolean()) out.emplace_back(k, v.get<bool>());
    else if (v.is_number_integer()) out.emplace_back(k, v.get<int64_t>());
    else if (v.is_number()) out.emplace_back(k, v.get<double>());
    else if (v.is_string()) out.emplace_back(k, v.get<std::string>());
    else
      fail<ValueError>("hparams_from_json", "value of '", k, "' is not a bool, number or string");
  }
  return out;
}

std::string hparams_to_yaml(const HParams& hparams) {
  std::string out;
  for (const auto& [k, v] : hparams) {
    out += k + ": ";
    if (v.is_string()) {
      out += nlohmann::json(v.as_string()).dump();  // a JSON string is a valid YAML scalar
    } else if (auto* d = std::get_if<double>(&v.value()); d && !std::isfinite(*d)) {
      out += std::isnan(*d) ? ".nan" : (*d > 0 ? ".inf" : "-.inf");
    } else {
      out += v.as_string();
    }
    out += "\n";
  }
  return out;
}

}  // namespace ember
