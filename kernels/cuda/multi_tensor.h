// The multi-tensor machinery of the optimizer kernels (optim.cu, optim_more.cu): a table
// of per-tensor descriptors and (tensor, chunk) pairs copied to the device once per launch,
// and the walk over one chunk's elements, by 16-byte packs where every pointer is aligned.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/cuda/device_utils.h"

namespace ember::EMBER_VARIANT {

constexpr int kThreads = 256;
constexpr int64_t kChunk = 64 * 1024;  // elements per chunk: a multiple of every pack width

struct Chunk {
  int32_t tensor;  // index into the descriptor table
  int32_t part;    // the chunk covers [part * kChunk, min((part + 1) * kChunk, n))
};

template <typename T>
constexpr int kPack = static_cast<int>(16 / sizeof(T));

// The descriptor table and the chunk list of one launch, in one device allocation that
// lives until the launch has been queued (the stream orders its reuse after the kernel).
template <typename Desc>
class ChunkTable {
 public:
  explicit ChunkTable(const std::vector<Desc>& descs) {
    std::vector<Chunk> chunks;
    for (size_t t = 0; t < descs.size(); ++t)
      for (int64_t part = 0; part * kChunk < descs[t].n; ++part)
        chunks.push_back({static_cast<int32_t>(t), static_cast<int32_t>(part)});
    n_chunks_ = static_cast<int64_t>(chunks.size());
    const size_t desc_bytes = (descs.size() * sizeof(Desc) + 15) / 16 * 16;
    const size_t bytes = desc_bytes + chunks.size() * sizeof(Chunk);
    std::vector<unsigned char> host(bytes);
    std::memcpy(host.data(), descs.data(), descs.size() * sizeof(Desc));
    std::memcpy(host.data() + desc_bytes, chunks.data(), chunks.size() * sizeof(Chunk));
    base_ = static_cast<unsigned char*>(rt::allocate(bytes));
    rt::memcpy_h2d(base_, host.data(), bytes);
    descs_ = reinterpret_cast<const Desc*>(base_);
    chunks_ = reinterpret_cast<const Chunk*>(base_ + desc_bytes);
  }
  ~ChunkTable() { rt::deallocate(base_); }
  ChunkTable(const ChunkTable&) = delete;
  ChunkTable& operator=(const ChunkTable&) = delete;

  const Desc* descs() const { return descs_; }
  const Chunk* chunks() const { return chunks_; }
  int64_t n_chunks() const { return n_chunks_; }
  unsigned grid() const {
    const int64_t cap = int64_t{rt::props().sm_count} * 8;
    return static_cast<unsigned>(n_chunks_ < cap ? n_chunks_ : cap);
  }

 private:
  unsigned char* base_ = nullptr;
  const Desc* descs_ = nullptr;
  const Chunk* chunks_ = nullptr;
  int64_t n_chunks_ = 0;
};

// Calls f(i) for the elements of chunk `ch` of a tensor of n elements, and
// fv(i) for the first index of each full pack when `vec` (all pointers aligned).
template <int V, typename F, typename FV>
EMBER_DEVICE void for_chunk(const Chunk& ch, int64_t n, bool vec, F f, FV fv) {
  const int64_t begin = static_cast<int64_t>(ch.part) * kChunk;
  const int64_t end = begin + kChunk < n ? begin + kChunk : n;
  int64_t i = begin + static_cast<int64_t>(threadIdx.x);
  if (vec) {
    const int64_t packed_end = begin + (end - begin) / V * V;
    for (int64_t j = begin + static_cast<int64_t>(threadIdx.x) * V; j < packed_end;
         j += static_cast<int64_t>(blockDim.x) * V)
      fv(j);
    i = packed_end + threadIdx.x;
  }
  for (; i < end; i += blockDim.x) f(i);
}

template <typename T>
bool aligned16(const T* p) {
  return p == nullptr || reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace ember::EMBER_VARIANT
