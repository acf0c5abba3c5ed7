// Shapes, strides and the small index arithmetic every op shares.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember {

using Shape = std::vector<int64_t>;    // sizes, outermost first
using Strides = std::vector<int64_t>;  // in elements, not bytes
using DimList = std::vector<int64_t>;  // dims of an op; negative counts from the end

// "[2, 3]"; "[]" for a 0-dim tensor.
std::string str(const std::vector<int64_t>& v);

// Product of sizes; throws ValueError on a negative size or overflow (op names the caller).
int64_t checked_numel(std::string_view op, const Shape& shape);
int64_t numel(const Shape& shape);  // no checks: for shapes already validated
Strides contiguous_strides(const Shape& shape);

// Maps dim in [-ndim, ndim) to [0, ndim); throws IndexError naming op otherwise.
// A 0-dim tensor accepts dims -1 and 0 (as PyTorch does).
int64_t wrap_dim(std::string_view op, int64_t dim, int64_t ndim);
// Sorted, unique, wrapped dims; empty `dims` means all dims.
DimList wrap_dims(std::string_view op, const DimList& dims, int64_t ndim);

// NumPy broadcasting of two shapes; throws ShapeError naming op and both shapes.
Shape broadcast_shapes(std::string_view op, const Shape& a, const Shape& b);

}  // namespace ember
