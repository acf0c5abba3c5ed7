// einsum as torch.einsum, built on differentiable ops only (sum, permute, reshape, expand,
// matmul), so its gradient is theirs. The plan:
//   1. parse: each operand's subscripts (letters, at most one "...") and the output's
//      (explicit after "->", else "..." then the letters seen once, alphabetically);
//   2. each operand first sums the labels no one else needs (not in the output, not in
//      another operand), and size-1 dims of shared labels are expanded (broadcasting);
//   3. operands are contracted pairwise left to right: shared labels still needed later
//      are batch dims, shared labels no longer needed are contracted, and each pair is
//      one batched matmul (B, M, K) @ (B, K, N) after a permute and a reshape;
//   4. the result is permuted into the output's order.
// A label repeated within one operand (a diagonal, "ii->i") is rejected: taking a
// diagonal needs a strided view ember does not have, and rejecting is clearer than a
// silent copy.
#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "autograd/autocast_policy.h"
#include "autograd/recording.h"

namespace ember {

namespace {

constexpr int kLetters = 52;  // A-Z then a-z, torch's label order

int label_of(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

// Labels 0..51 are letters; 52 + e is the e-th of the broadcast "..." dims.
std::string label_name(int l) {
  if (l < 26) return std::string(1, static_cast<char>('A' + l));
  if (l < kLetters) return std::string(1, static_cast<char>('a' + (l - 26)));
  return "...";
}

// One side of the equation: letters (as labels) with the position of "..." (or -1).
struct Term {
  std::vector<int> letters;
  int ellipsis_at = -1;  // index into letters before which "..." stands
};

Term parse_term(const std::string& eq, const std::string& text, const std::string& where) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.') {
      if (t.ellipsis_at >= 0 || text.compare(i, 3, "...") != 0)
        fail<ValueError>("einsum", "invalid '.' in ", where, " of equation \"", eq,
                         "\" (only one \"...\" per term)");
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
      continue;
    }
    int l = label_of(c);
    if (l < 0)
      fail<ValueError>("einsum", "invalid subscript '", std::string(1, c), "' in ", where,
                       " of equation \"", eq, "\" (subscripts are letters a-z, A-Z)");
    t.letters.push_back(l);
  }
  return t;
}

// An operand with one label per dim.
struct Labeled {
  Tensor t;
  std::vector<int> labels;
};

// Sums the dims of x whose label fails `keep`; sum with no dims would sum all, so skip it.
template <typename Keep>
Labeled sum_unneeded(Labeled x, Keep keep) {
  DimList dims;
  std::vector<int> kept;
  for (size_t d = 0; d < x.labels.size(); ++d) {
    if (keep(x.labels[d])) kept.push_back(x.labels[d]);
    else dims.push_back(static_cast<int64_t>(d));
  }
  if (dims.empty()) return x;
  return {sum(x.t, dims), kept};
}

int64_t product(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= t.size(d);
  return p;
}

bool is_identity(const DimList& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// x's dims in the order batch, first, second as a (B, P, Q) matrix batch. When x holds them
// as batch, second, first already, a reshape (a view) and a transpose give that without the
// copy a permute + reshape would make (attention's keys "bhkd" as (B, d, k)); matmul takes
// transposed operands as they are.
Tensor as_batch(const Tensor& x, const DimList& batch, const DimList& first, const DimList& second,
                int64_t B, int64_t P, int64_t Q) {
  DimList direct = batch, swapped = batch;
  direct.insert(direct.end(), first.begin(), first.end());
  direct.insert(direct.end(), second.begin(), second.end());
  swapped.insert(swapped.end(), second.begin(), second.end());
  swapped.insert(swapped.end(), first.begin(), first.end());
  if (!is_identity(direct) && is_identity(swapped)) return x.reshape({B, Q, P}).transpose(1, 2);
  return x.permute(direct).reshape({B, P, Q});
}

// One batched matmul: a [batch, a-only, contracted] @ b [batch, contracted, b-only].
Labeled contract(const Labeled& a, const Labeled& b, const std::vector<bool>& needed_later) {
  auto has = [](const Labeled& x, int l) {
    return std::find(x.labels.begin(), x.labels.end(), l) != x.labels.end();
  };
  auto pos = [](const Labeled& x, int l) {
    return static_cast<int64_t>(std::find(x.labels.begin(), x.labels.end(), l) - x.labels.begin());
  };
  std::vector<int> batch, only_a, only_b, inner;
  for (int l : a.labels) {
    if (!has(b, l)) only_a.push_back(l);
    else if (needed_later[static_cast<size_t>(l)]) batch.push_back(l);
    else inner.push_back(l);
  }
  for (int l : b.labels)
    if (!has(a, l)) only_b.push_back(l);
  DimList batch_a, batch_b, a_dims, b_dims, k_a, k_b;
  for (int l : batch) batch_a.push_back(pos(a, l)), batch_b.push_back(pos(b, l));
  for (int l : only_a) a_dims.push_back(pos(a, l));
  for (int l : only_b) b_dims.push_back(pos(b, l));
  for (int l : inner) k_a.push_back(pos(a, l)), k_b.push_back(pos(b, l));
  const int64_t B = product(a.t, batch_a), M = product(a.t, a_dims), N = product(b.t, b_dims),
                K = product(a.t, k_a);
  Tensor am = as_batch(a.t, batch_a, a_dims, k_a, B, M, K);
  Tensor bm = as_batch(b.t, batch_b, k_b, b_dims, B, K, N);
  Shape out_shape;
  std::vector<int> out_labels;
  for (int l : batch) out_shape.push_back(a.t.size(pos(a, l))), out_labels.push_back(l);
  for (int l : only_a) out_shape.push_back(a.t.size(pos(a, l))), out_labels.push_back(l);
  for (int l : only_b) out_shape.push_back(b.t.size(pos(b, l))), out_labels.push_back(l);
  return {matmul(am, bm).reshape(out_shape), out_labels};
}

}  // namespace

Tensor einsum(std::string_view equation, const std::vector<Tensor>& operands) {
  // autocast: every operand in the lower precision (torch's cuda list), so an einsum that is
  // a pure sum or transpose runs in it too, not only its products.
  if (autocast_policy::active() && !operands.empty()) {
    DType dtype{};
    const bool on = autocast_policy::enabled_for(operands.front(), &dtype);
    const autocast_policy::Suspend suspend;
    if (!on) return einsum(equation, operands);
    std::vector<Tensor> cast;
    cast.reserve(operands.size());
    for (const Tensor& t : operands) cast.push_back(autocast_policy::cast_lower(t, dtype));
    return einsum(equation, cast);
  }
  std::string eq;
  for (char c : equation)
    if (c != ' ') eq.push_back(c);
  const std::string shown(equation);
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> texts;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    texts.push_back(lhs.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (texts.size() != operands.size())
    fail<ValueError>("einsum", "equation \"", shown, "\" names ", texts.size(), " operand(s) but ",
                     operands.size(), " were given");
  for (const Tensor& t : operands) raw::check_defined("einsum", t);

  // Parse the operands and check their ranks; "..." covers the dims the letters leave.
  std::vector<Term> terms;
  int64_t n_ellipsis = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string where = "operand " + std::to_string(i);
    Term t = parse_term(shown, texts[i], where);
    std::array<bool, kLetters> seen{};
    for (int l : t.letters) {
      if (seen[static_cast<size_t>(l)])
        fail<ValueError>("einsum", "repeated subscript '", label_name(l), "' in ", where,
                         " (a diagonal) is not supported (equation \"", shown, "\")");
      seen[static_cast<size_t>(l)] = true;
    }
    const int64_t named = static_cast<int64_t>(t.letters.size());
    const int64_t rank = operands[i].dim();
    if (t.ellipsis_at < 0 ? rank != named : rank < named)
      fail<ShapeError>("einsum", where, " has shape ", str(operands[i].sizes()), " (", rank,
                       " dims) but its subscripts \"", texts[i], "\" name ", named,
                       t.ellipsis_at < 0 ? "" : " or more", " (equation \"", shown, "\")");
    if (t.ellipsis_at >= 0) n_ellipsis = std::max(n_ellipsis, rank - named);
    terms.push_back(std::move(t));
  }

  // Label every dim; an operand's "..." dims are the last of the n_ellipsis broadcast dims.
  std::vector<Labeled> ops;
  std::array<int, kLetters> count{};
  for (size_t i = 0; i < terms.size(); ++i) {
    const Term& t = terms[i];
    Labeled x{operands[i], {}};
    const int64_t ell = operands[i].dim() - static_cast<int64_t>(t.letters.size());
    for (size_t j = 0; j <= t.letters.size(); ++j) {
      if (static_cast<int>(j) == t.ellipsis_at)
        for (int64_t e = n_ellipsis - ell; e < n_ellipsis; ++e)
          x.labels.push_back(kLetters + static_cast<int>(e));
      if (j < t.letters.size()) {
        x.labels.push_back(t.letters[j]);
        ++count[static_cast<size_t>(t.letters[j])];
      }
    }
    ops.push_back(std::move(x));
  }
  const size_t n_labels = kLetters + static_cast<size_t>(n_ellipsis);

  // The output's labels: explicit, or "..." then the letters seen once (torch's rule).
  std::vector<int> out;
  if (arrow != std::string::npos) {
    Term t = parse_term(shown, eq.substr(arrow + 2), "the output");
    std::array<bool, kLetters> seen{};
    for (size_t j = 0; j <= t.letters.size(); ++j) {
      if (static_cast<int>(j) == t.ellipsis_at)
        for (int64_t e = 0; e < n_ellipsis; ++e) out.push_back(kLetters + static_cast<int>(e));
      if (j == t.letters.size()) break;
      const int l = t.letters[j];
      if (seen[static_cast<size_t>(l)])
        fail<ValueError>("einsum", "output subscript '", label_name(l),
                         "' appears more than once (equation \"", shown, "\")");
      if (count[static_cast<size_t>(l)] == 0)
        fail<ValueError>("einsum", "output subscript '", label_name(l),
                         "' does not appear in any operand (equation \"", shown, "\")");
      seen[static_cast<size_t>(l)] = true;
      out.push_back(l);
    }
  } else {
    for (int64_t e = 0; e < n_ellipsis; ++e) out.push_back(kLetters + static_cast<int>(e));
    for (int l = 0; l < kLetters; ++l)
      if (count[static_cast<size_t>(l)] == 1) out.push_back(l);
  }

  // Each label's size; size-1 dims broadcast (as torch), other sizes must agree.
  std::vector<int64_t> size(n_labels, -1);
  std::vector<size_t> first(n_labels, 0);
  for (size_t i = 0; i < ops.size(); ++i)
    for (size_t d = 0; d < ops[i].labels.size(); ++d) {
      const auto l = static_cast<size_t>(ops[i].labels[d]);
      const int64_t s = ops[i].t.size(static_cast<int64_t>(d));
      if (size[l] < 0 || size[l] == 1) {
        if (size[l] < 0) first[l] = i;
        if (size[l] == 1 && s != 1) first[l] = i;
        size[l] = std::max(size[l], s);
      } else if (s != 1 && s != size[l]) {
        fail<ShapeError>("einsum", "subscript '", label_name(static_cast<int>(l)), "' has size ",
                         size[l], " in operand ", first[l], " (shape ",
                         str(operands[first[l]].sizes()), ") but ", s, " in operand ", i,
                         " (shape ", str(operands[i].sizes()), ") (equation \"", shown, "\")");
      }
    }

  // uses[l]: how many operands still to be combined hold label l (the output counts as one).
  std::vector<int> uses(n_labels, 0);
  for (int l : out) ++uses[static_cast<size_t>(l)];
  for (const Labeled& x : ops)
    for (int l : x.labels) ++uses[static_cast<size_t>(l)];
  for (Labeled& x : ops) {
    x = sum_unneeded(x, [&](int l) { return uses[static_cast<size_t>(l)] > 1; });
    Shape full;
    bool broadcast = false;
    for (size_t d = 0; d < x.labels.size(); ++d) {
      full.push_back(size[static_cast<size_t>(x.labels[d])]);
      broadcast = broadcast || full.back() != x.t.size(static_cast<int64_t>(d));
    }
    if (broadcast) x.t = x.t.expand(full);
  }
  // Uses left after the summed labels are gone: each kept label counts its operands again.
  std::fill(uses.begin(), uses.end(), 0);
  for (int l : out) ++uses[static_cast<size_t>(l)];
  for (const Labeled& x : ops)
    for (int l : x.labels) ++uses[static_cast<size_t>(l)];

  Labeled acc = ops[0];
  for (size_t i = 1; i < ops.size(); ++i) {
    for (int l : acc.labels) --uses[static_cast<size_t>(l)];
    for (int l : ops[i].labels) --uses[static_cast<size_t>(l)];
    // A label is needed later when the output or an operand not yet combined holds it.
    std::vector<bool> later(n_labels);
    for (size_t l = 0; l < n_labels; ++l) later[l] = uses[l] > 0;
    auto keep = [&](int l) {
      return later[static_cast<size_t>(l)] ||
             std::find(ops[i].labels.begin(), ops[i].labels.end(), l) != ops[i].labels.end();
    };
    acc = sum_unneeded(acc, keep);
    acc = contract(acc, ops[i], later);
    for (int l : acc.labels) ++uses[static_cast<size_t>(l)];
  }
  // A single operand's labels that only it held are summed already; the rest is order.
  acc = sum_unneeded(acc, [&](int l) { return std::find(out.begin(), out.end(), l) != out.end(); });
  DimList perm;
  for (int l : out)
    perm.push_back(static_cast<int64_t>(std::find(acc.labels.begin(), acc.labels.end(), l) -
                                        acc.labels.begin()));
  return perm.empty() ? acc.t : acc.t.permute(perm);
}

}  // namespace ember
