#include "trainer/module_mode.h"

#include <functional>
#include <map>
#include <unordered_set>

namespace ember {

void ModuleMode::capture(nn::Module& root) {
  modes_.clear();
  for (const auto& m : root.modules()) modes_.emplace_back(m.get(), m->is_training());
}

void ModuleMode::restore(nn::Module& root) const {
  // nn::Module only sets modes a subtree at a time (train(bool) recurses). Visiting the
  // modules parents-before-children along every path (a topological order of the tree,
  // shared modules included) and switching those whose mode differs gives each module its
  // own recorded mode: a switch only touches descendants, which are visited later.
  std::map<const nn::Module*, bool> want;
  for (const auto& [m, training] : modes_) want[m] = training;

  std::vector<nn::Module*> post;  // children before parents
  std::unordered_set<const nn::Module*> seen;
  std::function<void(nn::Module&)> visit = [&](nn::Module& m) {
    if (!seen.insert(&m).second) return;
    for (const auto& [name, child] : m.own_children())
      if (child) visit(*child);
    post.push_back(&m);
  };
  visit(root);
  // Modules added since the capture keep the mode they have now.
  for (nn::Module* m : post) want.try_emplace(m, m->is_training());
  for (auto it = post.rbegin(); it != post.rend(); ++it) {
    const bool training = want.at(*it);
    if ((*it)->is_training() != training) (*it)->train(training);
  }
}

}  // namespace ember
