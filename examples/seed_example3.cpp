// The seed's Example 3: parameter groups. The injected encoder trains at a tenth of the
// decoder's learning rate. (The optimizer issue rewires this to optim::Adam.)
#include <cstdio>

#include "seed_models.h"

int main() {
  using namespace seed;
  auto encoder = std::make_shared<ImageEncoder>();
  auto model = std::make_shared<Captioner>(encoder, std::make_shared<SimpleDecoder>());
  const double lr = 0.05;
  std::vector<std::pair<std::vector<Tensor>, double>> groups = {
      {model->image_encoder->parameters(), lr * 0.1},
      {model->text_decoder->parameters(), lr},
  };
  std::printf("group 0: image_encoder, %zu tensors, lr %.4f\n", groups[0].first.size(), groups[0].second);
  std::printf("group 1: text_decoder,  %zu tensors, lr %.4f\n", groups[1].first.size(), groups[1].second);

  Batch batch = make_batch(16, 2);
  Tensor w0 = encoder->linear->weight.detach().clone();
  Tensor d0 = std::dynamic_pointer_cast<SimpleDecoder>(model->text_decoder)->linear->weight.detach().clone();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss = nn::F::cross_entropy(model->forward(batch.image, batch.text).transpose(1, 2), batch.target);
    model->zero_grad();
    loss.backward();
    sgd_step(groups);
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  double enc_move = (encoder->linear->weight - w0).abs().max().item<double>();
  double dec_move = (std::dynamic_pointer_cast<SimpleDecoder>(model->text_decoder)->linear->weight - d0).abs().max().item<double>();
  std::printf("loss %.4f -> %.4f; largest weight change: encoder %.2e, decoder %.2e\n", first, last, enc_move, dec_move);
  return last < first ? 0 : 1;
}
