// Warp operations of the SIMT simulator: each lane posts its operation and value and
// yields; when every live lane of a mask has posted (Worker::release_warps, called by
// the scheduler when no thread can run), the results of all of them are computed at once
// from the posted values. A lane thus never reads a buffer another lane may rewrite: the
// hazard that double-buffered exchange slots guard against cannot arise.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <string>

#include "kernels/sim/block.h"
#include "tensor/error.h"

namespace ember::sim::detail {

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::sync: return "__syncwarp";
  }
  return "?";
}

// Releases every group of lanes waiting at a warp operation whose live members have all
// posted it; computes each lane's result. Returns whether any group was released.
bool Worker::release_warps(const Block& b, uint32_t n) {
  bool released = false;
  for (uint32_t base = 0; base < n; base += 32) {
    const uint32_t lanes = std::min<uint32_t>(32, n - base);
    const uint32_t exists = lanes == 32 ? ~0u : (1u << lanes) - 1u;
    uint32_t waiting = 0, live = 0;
    for (uint32_t l = 0; l < lanes; ++l) {
      State s = fibers[base + l]->state;
      if (s == State::at_warp) waiting |= 1u << l;
      if (s != State::exited) live |= 1u << l;
    }
    uint32_t pending = waiting;
    while (pending != 0) {
      const auto lane = static_cast<uint32_t>(std::countr_zero(pending));
      const Fiber& lead = *fibers[base + lane];
      if ((lead.mask & (1u << lane)) == 0)
        fail_in(b, "thread " + str3(lead.tid) + " calls " + op_name(lead.op) + " with mask " +
                       hex(lead.mask) + ", which leaves out its own lane " + std::to_string(lane));
      const uint32_t group = lead.mask & exists & live;
      if ((group & waiting) != group) {  // a member is elsewhere: maybe later
        pending &= ~(1u << lane);
        continue;
      }
      uint64_t ballot = 0;
      for (uint32_t g = group; g != 0; g &= g - 1) {
        const Fiber& m = *fibers[base + std::countr_zero(g)];
        if (m.op != lead.op || (m.mask & exists) != (lead.mask & exists))
          fail_in(b, "threads " + str3(lead.tid) + " and " + str3(m.tid) + " of one warp meet at " +
                         op_name(lead.op) + "(mask " + hex(lead.mask) + ") and " + op_name(m.op) +
                         "(mask " + hex(m.mask) + ")");
        if (m.value != 0) ballot |= uint64_t{1} << std::countr_zero(g);
      }
      uint64_t values[32];
      for (uint32_t g = group; g != 0; g &= g - 1)
        values[std::countr_zero(g)] = fibers[base + std::countr_zero(g)]->value;
      for (uint32_t g = group; g != 0; g &= g - 1) {
        const auto l = static_cast<uint32_t>(std::countr_zero(g));
        Fiber& m = *fibers[base + l];
        const auto w = static_cast<uint32_t>(m.width);
        const auto a = static_cast<uint32_t>(m.arg);
        uint32_t src = l;
        switch (m.op) {
          case WarpOp::shfl_idx: src = (l & ~(w - 1)) | (a & (w - 1)); break;
          case WarpOp::shfl_up: src = (l & (w - 1)) >= a ? l - a : l; break;
          case WarpOp::shfl_down: src = (l & (w - 1)) + a < w ? l + a : l; break;
          case WarpOp::shfl_xor: src = (l ^ a) < 32 && (l ^ a) / w <= l / w ? (l ^ a) : l; break;
          default: break;
        }
        switch (m.op) {
          case WarpOp::ballot: m.value = ballot; break;
          case WarpOp::any: m.value = ballot != 0; break;
          case WarpOp::all: m.value = ballot == group; break;
          case WarpOp::sync: m.value = 0; break;
          default: m.value = (group >> src) & 1u ? values[src] : ~uint64_t{0}; break;
        }
        m.state = State::runnable;
      }
      pending &= ~group;
      released = true;
    }
  }
  return released;
}

uint64_t warp_exchange(WarpOp op, unsigned mask, uint64_t value, int arg, int width) {
  Fiber& f = running_fiber(op_name(op));
  if (width < 1 || width > 32 || (width & (width - 1)) != 0)
    trap("shuffle width must be a power of two in [1, 32]");
  f.op = op;
  f.mask = mask;
  f.value = value;
  f.arg = arg;
  f.width = width;
  f.state = State::at_warp;
  yield_to_scheduler(f);
  return f.value;
}

unsigned active_mask() {
  Fiber& self = running_fiber("__activemask");
  const uint32_t linear = self.tid.x + t_block->dim.x * (self.tid.y + t_block->dim.y * self.tid.z);
  const uint32_t n = t_block->dim.x * t_block->dim.y * t_block->dim.z;
  const uint32_t base = linear / 32 * 32;
  unsigned mask = 0;
  for (uint32_t l = 0; l < 32 && base + l < n; ++l)
    if (t_worker->fibers[base + l]->state != State::exited) mask |= 1u << l;
  return mask;
}

}  // namespace ember::sim::detail
