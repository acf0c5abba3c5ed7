// The seed's Example 2: Example 1's captioner with the decoder swapped for one that holds
// a nested attention block (query/key/value projections, matmul, softmax, matmul).
#include <cstdio>

#include "seed_models.h"

int main() {
  using namespace seed;
  auto decoder = std::make_shared<AttentionDecoder>();
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(), decoder);
  std::printf("%s\n\n", model->pretty_print().c_str());
  for (const auto& [name, t] : model->named_parameters())
    if (name.starts_with("text_decoder.attention"))
      std::printf("%-40s %s\n", name.c_str(), str(t.sizes()).c_str());

  auto opt = optim::Adam::make(model->parameters(), {.lr = 1e-4});
  ToyBatch batch = make_batch(16, 1);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss =
        nn::F::cross_entropy(model->forward(batch.image, batch.text).transpose(1, 2), batch.target);
    opt->zero_grad();
    loss.backward();
    opt->step();
    last = loss.item<double>();
    if (step == 0) first = last;
    if (step % 5 == 0 || step == 29) std::printf("step %2d  loss %.4f\n", step, last);
  }
  std::printf("loss %.4f -> %.4f\n", first, last);
  return last < first * 0.5 ? 0 : 1;
}
