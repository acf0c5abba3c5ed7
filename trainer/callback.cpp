#include "trainer/callback.h"

#include <typeinfo>

#include "nn/module.h"

namespace ember {

std::string Callback::name() const { return nn::short_type_name(typeid(*this)); }

}  // namespace ember
