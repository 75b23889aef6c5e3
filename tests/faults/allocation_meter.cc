// Counts through the allocator's own entry points: in sanitizer builds the sanitizers' allocation
// hook (they own malloc there), otherwise glibc's documented malloc replacement, forwarding to
// glibc's allocator (__libc_*) so that every pointer still comes from, and returns to, one heap.
// This file must be linked into the test executable itself, not through an archive.
#include "allocation_meter.h"

#include <atomic>
#include <cstdlib>

#include "fault_support.h"

#ifdef THRIFTPOOL_FAULTS_SANITIZED
// From <sanitizer/allocator_interface.h>, which GCC 12 does not ship (its runtimes export it).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));
#endif

namespace thriftpool::faults {
namespace {

std::atomic<std::size_t> largest{0};

void Record(std::size_t size) noexcept {
  std::size_t seen = largest.load(std::memory_order_relaxed);
  while (size > seen && !largest.compare_exchange_weak(seen, size, std::memory_order_relaxed)) {
  }
}

#ifdef THRIFTPOOL_FAULTS_SANITIZED
void OnAllocation(const volatile void* /*memory*/, std::size_t size) { Record(size); }
void OnFree(const volatile void* /*memory*/) {}
// Installed before main, so that the first reset already counts.
const bool hooks_installed = __sanitizer_install_malloc_and_free_hooks(OnAllocation, OnFree) != 0;
#endif

}  // namespace

void ResetLargestAllocation() { largest.store(0); }

std::size_t LargestAllocation() { return largest.load(); }

}  // namespace thriftpool::faults

#ifndef THRIFTPOOL_FAULTS_SANITIZED
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* memory, std::size_t size);
void __libc_free(void* memory);

// operator new, std::string and Thrift's own buffers all end up here.
void* malloc(std::size_t size) {
  thriftpool::faults::Record(size);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) {
  thriftpool::faults::Record(count * size);
  return __libc_calloc(count, size);
}
void* realloc(void* memory, std::size_t size) {
  thriftpool::faults::Record(size);
  return __libc_realloc(memory, size);
}
void free(void* memory) { __libc_free(memory); }
}  // extern "C"
#endif
