// ember's smallest program: tensors, broadcasting and a matmul.
#include <ember/ember.h>

#include <iostream>

int main() {
  using namespace ember;
  manual_seed(0);

  Tensor a = arange(6, {.dtype = DType::f32}).reshape({2, 3});  // (2, 3)
  Tensor b = from_vector<float>({10, 20, 30});                  // (3,) broadcasts over rows
  std::cout << "a =\n" << a << "\n\nb =\n" << b << "\n\na + b =\n" << (a + b) << "\n\n";

  Tensor col = from_vector<float>({1, -1}, {2, 1});  // (2, 1) broadcasts over columns
  std::cout << "a * col =\n" << (a * col) << "\n\n";

  Tensor w = randn({3, 4});  // (3, 4)
  Tensor y = a.matmul(w);    // (2, 4)
  std::cout << "a @ randn(3, 4) =\n" << y << "\n\n";
  std::cout << "softmax over the last dim =\n" << y.softmax(-1) << "\n\n";
  std::cout << "row sums of the softmax = " << y.softmax(-1).sum({1}) << "\n";

  Tensor check = ones({2, 3}).matmul(ones({3, 2})).sum();
  std::cout << "ones(2, 3) @ ones(3, 2), summed = " << check.item<float>() << "\n";
  return check.item<float>() == 12.0f ? 0 : 1;
}
