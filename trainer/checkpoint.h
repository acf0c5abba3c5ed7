// Checkpoints: one safetensors file per save (nn::save_safetensors, written atomically).
//
//   <param or buffer name>          the model's state_dict, plain dotted names (PyTorch loads them)
//   optimizer_states.<i>.<key>      optimizer i's state_dict (optim::Optimizer::state_dict), in
//                                   configure_optimizers' order
//   lr_schedulers.<i>.<key>         scheduler config i's
//   __metadata__                    strings: "ember_checkpoint" (format version), "ember_version",
//                                   "epoch", "global_step", "loops", "callbacks", "rng",
//                                   "hyper_parameters" (the last four JSON)
//
// A weights-only checkpoint (save_checkpoint(path, true)) holds the model's state and the
// metadata "ember_checkpoint", "ember_version", "epoch", "global_step", "hyper_parameters"
// and "weights_only" = "true": no optimizer, scheduler, loop, callback or RNG state.
//
// Tensors a module or callback adds in on_save_checkpoint belong under "extra.".
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tensor/random.h"
#include "trainer/hparams.h"
#include "trainer/lightning_module.h"
#include "trainer/metrics.h"

namespace ember {

inline constexpr const char* kCheckpointFormatKey = "ember_checkpoint";
inline constexpr const char* kCheckpointFormatVersion = "1";
// The metadata key marking a weights-only checkpoint (its value "true").
inline constexpr const char* kWeightsOnlyKey = "weights_only";

// ember's version (the CMake project version), written into every checkpoint.
std::string ember_version();

// Reads and validates a checkpoint: a missing, truncated or corrupt file, or a
// safetensors file that is not an ember checkpoint, throws ValueError naming the path.
Checkpoint read_checkpoint(const std::string& path);
// The hyperparameters a checkpoint was saved with (empty when none).
HParams checkpoint_hparams(const Checkpoint& checkpoint);
// True for the keys of the model's state (not optimizer, scheduler or extra entries).
bool is_model_key(const std::string& key);

// Where a checkpoint's fit resumes, parsed from its metadata.
struct ResumeState {
  int64_t epoch = 0, global_step = 0, batches_that_stepped = 0, batches_done = 0,
          total_batch_idx = 0;
  std::string phase = "batch";  // "batch", "validated" or "epoch_end"
  bool stepped = false;         // whether the last batch done stepped the optimizer
  std::string train_results;    // MetricCollection JSON
  MetricMap callback_metrics;
  PhiloxState rng;
  std::map<std::string, std::string> callback_states;  // by state_key
};
// Throws ValueError naming the path and the malformed field, or that the file is a
// weights-only checkpoint (nothing to resume a fit from).
ResumeState parse_resume_state(const Checkpoint& checkpoint, const std::string& path);
// The metadata entries of a ResumeState (inverse of parse_resume_state).
void write_resume_state(const ResumeState& state, std::map<std::string, std::string>& metadata);

}  // namespace ember
