// The seed's Example 1: a conv image encoder and an embedding text decoder, built
// outside and injected into a captioning module, trained by a short loop with Adam.
#include <cstdio>

#include "seed_models.h"

int main() {
  using namespace seed;
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  std::printf("%s\n\n", model->pretty_print().c_str());
  for (const auto& [name, t] : model->state_dict())
    std::printf("%-32s %s\n", name.c_str(), str(t.sizes()).c_str());

  auto opt = optim::Adam::make(model->parameters(), {.lr = 1e-4});
  ToyBatch batch = make_batch(16, 0);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor out = model->forward(batch.image, batch.text);                   // (N, T, vocab)
    Tensor loss = nn::F::cross_entropy(out.transpose(1, 2), batch.target);  // over (N, vocab, T)
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
