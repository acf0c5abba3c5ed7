// Writes a TensorBoard run for tensorboard_interop.py: three scalars over five steps,
// through TensorBoardLogger, and prints the event file's path.
#include <cstdio>

#include <ember/ember.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ember_tensorboard_tool DIR\n");
    return 2;
  }
  ember::TensorBoardLogger logger(argv[1]);
  for (int64_t step = 0; step < 5; ++step)
    logger.log_metrics({{"loss", 1.0 / static_cast<double>(step + 1)},
                        {"acc", 0.2 * static_cast<double>(step)},
                        {"lr-Adam/pg1", 1e-3}},
                       step * 10);
  logger.finalize("success");
  std::printf("%s\n", logger.event_file().c_str());
  return 0;
}
