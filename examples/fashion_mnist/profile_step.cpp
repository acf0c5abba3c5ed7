// Where the time of one ResNet training step goes (docs/performance.md, issue 19): the
// bench's resnet_train_step (batch 128 of 1x28x28, SGD with Nesterov momentum) run under
// ember's profiler, with the per-op table printed.
//
//   fashion_mnist_profile_step [--threads N] [--steps N] [--sort self|total]
#include <omp.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "fashion_mnist/model.h"
#include "tensor/profiler.h"

int main(int argc, char** argv) {
  int threads = 0, steps = 20;
  ember::profiler::SortBy sort = ember::profiler::SortBy::self;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--threads") {
      threads = std::atoi(value.c_str());
    } else if (flag == "--steps") {
      steps = std::atoi(value.c_str());
    } else if (flag == "--sort") {
      sort = value == "total" ? ember::profiler::SortBy::total : ember::profiler::SortBy::self;
    } else {
      std::cerr << "usage: fashion_mnist_profile_step [--threads N] [--steps N] "
                   "[--sort self|total]\n";
      return 2;
    }
  }
  if (threads > 0) omp_set_num_threads(threads);
  ember::manual_seed(0);
  auto model = fmnist::make_resnet(10);
  model->train();
  auto opt = ember::optim::SGD::make(
      model->parameters(), {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
  const ember::Tensor images = ember::randn({128, 1, 28, 28});
  const ember::Tensor labels = ember::randint(0, 10, {128});
  auto step = [&] {
    opt->zero_grad();
    ember::Tensor loss = ember::nn::functional::cross_entropy(model->forward(images), labels);
    {
      ember::profiler::Range r("backward");
      loss.backward();
    }
    {
      ember::profiler::Range r("optimizer.step");
      opt->step();
    }
    return loss.item<float>();
  };
  for (int i = 0; i < 3; ++i) step();  // warm up: caches, pools, first-call costs
  ember::profiler::start();
  float last = 0;
  for (int i = 0; i < steps; ++i) {
    ember::profiler::Range r("step");
    last = step();
  }
  ember::profiler::stop();
  std::cout << "steps " << steps << ", threads " << omp_get_max_threads() << ", last loss " << last
            << "\n"
            << ember::profiler::table(sort, 40);
  return 0;
}
