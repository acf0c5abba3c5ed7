// The train/eval mode of every module of a tree, recorded and put back later
// (Lightning's _ModuleMode): the evaluation loops call eval() on the whole model, and
// restoring a single `training` flag afterwards would turn a frozen injected encoder
// (left in eval() by its user) back to training mode.
//
//   ModuleMode mode;
//   mode.capture(model);   // before eval()
//   ...
//   mode.restore(model);   // each module as it was; modules added since keep their mode
#pragma once

#include <utility>
#include <vector>

#include "nn/module.h"

namespace ember {

class ModuleMode {
 public:
  void capture(nn::Module& root);
  void restore(nn::Module& root) const;
  void clear() { modes_.clear(); }
  bool empty() const { return modes_.empty(); }

 private:
  // By identity rather than dotted name, so a module shared by two parents is one entry.
  // Only compared with the modules in the tree at restore, never dereferenced (the root may
  // live on the stack, so weak handles would not do).
  std::vector<std::pair<const nn::Module*, bool>> modes_;
};

}  // namespace ember
