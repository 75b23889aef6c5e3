// Replaces the global operator new and delete (plain, array, nothrow, aligned, sized) with ones
// that count allocations in a thread-local counter and forward to malloc / free. In its own
// translation unit so that the compiler cannot see through them into the benchmarks.
#include "alloc_counter.h"

#include <cstddef>
#include <cstdlib>
#include <new>

namespace thriftpool {
namespace bench {
namespace {

// Constant-initialized: no TLS initialization hook, so usable from operator new at any time,
// including during static initialization and thread start-up.
thread_local std::uint64_t t_allocations = 0;

void* AllocateOnce(std::size_t size, std::size_t alignment) noexcept {
  if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return std::malloc(size);
  // aligned_alloc wants a size that is a multiple of the alignment.
  return std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment);
}

// The throwing forms: retry through the new-handler, as the standard operator new does.
void* Allocate(std::size_t size, std::size_t alignment) {
  ++t_allocations;
  if (size == 0) size = 1;  // new must return distinct pointers even for size 0
  for (;;) {
    if (void* p = AllocateOnce(size, alignment)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* AllocateNoThrow(std::size_t size, std::size_t alignment) noexcept {
  try {
    return Allocate(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

constexpr std::size_t kDefault = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

std::uint64_t ThreadAllocationCount() noexcept { return t_allocations; }

}  // namespace bench
}  // namespace thriftpool

using thriftpool::bench::Allocate;
using thriftpool::bench::AllocateNoThrow;
using thriftpool::bench::kDefault;

void* operator new(std::size_t size) { return Allocate(size, kDefault); }
void* operator new[](std::size_t size) { return Allocate(size, kDefault); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return AllocateNoThrow(size, kDefault);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return AllocateNoThrow(size, kDefault);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return Allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return Allocate(size, static_cast<std::size_t>(alignment));
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return AllocateNoThrow(size, static_cast<std::size_t>(alignment));
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  return AllocateNoThrow(size, static_cast<std::size_t>(alignment));
}

// Every allocation above comes from malloc or aligned_alloc, so free releases them all.
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
