#include "trainer/callback.h"

#include <cstdlib>
#include <cxxabi.h>
#include <memory>
#include <typeinfo>

namespace ember {

std::string Callback::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  std::string full = status == 0 && demangled ? demangled.get() : mangled;
  if (auto lt = full.find('<'); lt != std::string::npos) full = full.substr(0, lt);
  if (auto colon = full.rfind("::"); colon != std::string::npos) full = full.substr(colon + 2);
  return full;
}

}  // namespace ember
