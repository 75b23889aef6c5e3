#include "allocation_tracker.h"

#include <atomic>

// Sanitizer runtimes call these hooks on every allocation; weak, so that a build without a
// sanitizer links and simply does not track allocations.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*))
    __attribute__((weak));

namespace thriftpool::fuzz {
namespace {

std::atomic<bool> in_input{false};
std::atomic<std::size_t> largest{0};

void OnMalloc(const volatile void*, std::size_t size) {
  if (!in_input.load(std::memory_order_relaxed)) return;
  std::size_t seen = largest.load(std::memory_order_relaxed);
  while (size > seen && !largest.compare_exchange_weak(seen, size)) {
  }
}
void OnFree(const volatile void*) {}

}  // namespace

bool TrackAllocations() {
  static const bool tracked = __sanitizer_install_malloc_and_free_hooks != nullptr &&
                              __sanitizer_install_malloc_and_free_hooks(OnMalloc, OnFree) != 0;
  return tracked;
}

void BeginInput() { in_input.store(true, std::memory_order_relaxed); }
void EndInput() { in_input.store(false, std::memory_order_relaxed); }
std::size_t LargestAllocation() { return largest.load(); }

std::string FormatLargestAllocation() {
  return TrackAllocations()
             ? "largest allocation during a call: " + std::to_string(LargestAllocation()) +
                   " bytes\n"
             : "largest allocation during a call: not tracked (no sanitizer)\n";
}

}  // namespace thriftpool::fuzz
