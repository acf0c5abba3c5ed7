// The training-step rows: one optimization step of the main job's model (examples/
// captioning: the seed's image encoder and the causal attention decoder, Adam with the
// encoder at a tenth of the decoder's rate) on a batch of `batch` captions, in f32
// ("32-true") and in bf16-mixed: the forward and the loss under autocast(bf16), the
// backward and the optimizer step outside it, as Lightning's bf16-mixed precision plugin
// runs a step. ms per step; no FLOP count.
//
// The batch is made on the device once (random images, random caption tokens): the rows
// time the model, not the data loader. torch_gpu_bench.py writes the same model in PyTorch
// layer for layer.
#include <exception>
#include <memory>
#include <string>

#include "captioning/dataset.h"
#include "captioning/model.h"
#include "rows.h"
#include "timing.h"

namespace ember::gpubench {

namespace {

Row train_step_row(Device device, const Sizes& sizes, bool bf16_mixed) {
  Row row{.row = bf16_mixed ? "train_step_bf16_mixed" : "train_step_f32",
          .shape = "batch " + std::to_string(sizes.batch),
          .dtype = bf16_mixed ? "bf16-mixed" : "f32",
          .warmup = sizes.step_warmup,
          .runs = sizes.step_runs};
  try {
    manual_seed(0);
    const int64_t vocab = captioning::vocabulary().size();
    auto encoder = std::make_shared<seed::ImageEncoder>();
    auto decoder = std::make_shared<captioning::CausalAttentionDecoder>(vocab);
    // The main job's defaults: lr 2e-3, encoder_lr_scale 0.1.
    auto model = std::make_shared<captioning::CaptionModule>(encoder, decoder, 2e-3, 0.1);
    model->to(device);
    model->train();
    const std::shared_ptr<optim::Optimizer> opt = model->configure_optimizers().optimizer;
    const int64_t n = sizes.batch, t = captioning::kCaptionLength - 1;
    const Tensor image = randn({n, 3, 32, 32}, {.device = device});
    const Tensor text = randint(0, vocab, {n, t}, {.dtype = DType::i64, .device = device});
    const Tensor target = randint(0, vocab, {n, t}, {.dtype = DType::i64, .device = device});
    row.ms = time_runs(device, row.warmup, row.runs, [&] {
      opt->zero_grad();  // to none, as Lightning and torch's default
      Tensor loss;
      {
        autocast guard(device.type, DType::bf16, /*enabled=*/bf16_mixed);
        loss = nn::F::cross_entropy(model->forward(image, text).transpose(1, 2), target);
      }
      loss.backward();
      opt->step();
    });
  } catch (const std::exception& e) {
    row.error = e.what();
  }
  return row;
}

}  // namespace

void train_step_rows(Device device, const Sizes& sizes, const Emit& emit) {
  emit(train_step_row(device, sizes, /*bf16_mixed=*/true));
  emit(train_step_row(device, sizes, /*bf16_mixed=*/false));
}

}  // namespace ember::gpubench
