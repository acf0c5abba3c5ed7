// Uses the installed ember through its one public header and checks one result:
// ones(2, 3) @ ones(3, 2) is a 2x2 matrix of 3s, whose sum is 12.
#include <ember/ember.h>

#include <exception>
#include <iostream>

int main() {
  try {
    const float sum = ember::ones({2, 3}).matmul(ember::ones({3, 2})).sum().item<float>();
    std::cout << "ember consumer: ones({2, 3}) @ ones({3, 2}) sums to " << sum << "\n";
    if (sum != 12.0f) {
      std::cerr << "ember consumer: expected 12\n";
      return 1;
    }
    ember::empty_cache(ember::DeviceType::cpu);  // the memory API is in the public header too
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ember consumer: " << e.what() << "\n";
    return 1;
  }
}
