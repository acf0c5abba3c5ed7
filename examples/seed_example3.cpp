// The seed's Example 3: parameter groups. The injected encoder trains at a tenth of the
// decoder's learning rate, through optim::Adam's parameter groups.
#include <cstdio>

#include "seed_models.h"

int main() {
  using namespace seed;
  auto encoder = std::make_shared<ImageEncoder>();
  auto model = std::make_shared<Captioner>(encoder, std::make_shared<SimpleDecoder>());
  const double lr = 1e-3;
  auto opt = optim::Adam::make({{model->image_encoder->parameters(), {.lr = lr * 0.1}},
                                {model->text_decoder->parameters(), {.lr = lr}}});
  for (size_t g = 0; g < opt->param_groups().size(); ++g)
    std::printf("group %zu: %zu tensors, lr %.5f\n", g, opt->param_groups()[g].params.size(),
                opt->param_groups()[g].lr());

  ToyBatch batch = make_batch(16, 2);
  Tensor w0 = encoder->linear->weight.detach().clone();
  Tensor d0 = std::dynamic_pointer_cast<SimpleDecoder>(model->text_decoder)
                  ->linear->weight.detach()
                  .clone();
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    Tensor loss =
        nn::F::cross_entropy(model->forward(batch.image, batch.text).transpose(1, 2), batch.target);
    opt->zero_grad();
    loss.backward();
    opt->step();
    last = loss.item<double>();
    if (step == 0) first = last;
  }
  double enc_move = (encoder->linear->weight - w0).abs().max().item<double>();
  double dec_move =
      (std::dynamic_pointer_cast<SimpleDecoder>(model->text_decoder)->linear->weight - d0)
          .abs()
          .max()
          .item<double>();
  std::printf("loss %.4f -> %.4f; largest weight change: encoder %.2e, decoder %.2e\n", first, last,
              enc_move, dec_move);
  return last < first && enc_move < dec_move ? 0 : 1;
}
