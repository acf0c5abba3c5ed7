// CUDA events on ember's stream (timing.h). Built in the cuda build only, as host code of
// the cuda variant: kernels/cuda/runtime.h is ember's thin layer over the CUDA runtime (no
// CUDA header needed), and its events are recorded on the stream every `cuda` op runs on.
// A public event API would be the proper home for this; until ember has one, the bench
// reaches into the runtime layer, as the device tests do.
#define EMBER_VARIANT_CUDA 1
#include "kernels/cuda/runtime.h"
#include "timing.h"

namespace ember::gpubench {

namespace rt = ember::cuda_impl::rt;

bool have_cuda_events() { return true; }

std::vector<double> time_runs_cuda_events(int runs, const std::function<void()>& fn) {
  // The events of every run are made before the first is recorded: creating one is a
  // driver call that should not fall inside a timed run.
  std::vector<rt::Event> start(static_cast<size_t>(runs)), end(static_cast<size_t>(runs));
  for (int i = 0; i < runs; ++i) {
    start[static_cast<size_t>(i)] = rt::event_create();
    end[static_cast<size_t>(i)] = rt::event_create();
  }
  for (int i = 0; i < runs; ++i) {
    rt::event_record(start[static_cast<size_t>(i)]);
    fn();
    rt::event_record(end[static_cast<size_t>(i)]);
  }
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i)  // event_elapsed_ms waits for the end event
    ms.push_back(rt::event_elapsed_ms(start[static_cast<size_t>(i)], end[static_cast<size_t>(i)]));
  rt::synchronize();  // and raises an index error a kernel recorded, if any
  for (int i = 0; i < runs; ++i) {
    rt::event_destroy(start[static_cast<size_t>(i)]);
    rt::event_destroy(end[static_cast<size_t>(i)]);
  }
  return ms;
}

}  // namespace ember::gpubench
