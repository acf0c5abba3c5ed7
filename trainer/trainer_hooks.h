// Internal to the Trainer's sources: calling a hook on the callbacks, then the module,
// with log()'s hook name set.
#pragma once

#include "trainer/trainer.h"

namespace ember {

template <typename CbFn, typename ModFn>
void Trainer::call_hooks(const char* fx, CbFn&& cb, ModFn&& mod) {
  FxScope scope(*this, fx);
  for (const auto& c : callbacks_) cb(*c);
  mod(*model_);
}

template <typename CbFn, typename Which>
void Trainer::call_callbacks(const char* fx, CbFn&& cb, Which&& which) {
  FxScope scope(*this, fx);
  for (const auto& c : callbacks_)
    if (which(*c)) cb(*c);
}

}  // namespace ember

// EMBER_HOOKS(on_train_epoch_start) or EMBER_HOOKS(on_train_batch_end, loss, batch, idx):
// every callback's hook(trainer, module, args...), then the module's hook(args...).
#define EMBER_HOOKS(hook, ...)                                                            \
  call_hooks(                                                                             \
      #hook, [&](Callback& cb_) { cb_.hook(*this, *model_ __VA_OPT__(, ) __VA_ARGS__); }, \
      [&](LightningModule& m_) { m_.hook(__VA_ARGS__); })
