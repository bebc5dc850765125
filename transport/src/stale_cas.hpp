// A claim CAS on a ring word by a producer whose view is a lap old fails:
// free tags name their position, so the word it expects is never there
// again. But while it fails it touches a word that another producer may be
// writing as payload. For the hardware that is harmless (a failed locked
// cmpxchg leaves the word as it found it, atomically), and the claimant
// re-reads the tail just before each CAS so that the window is a few
// instructions. ThreadSanitizer models every CAS, failed or not, as a write
// and reports that window as a race: we tell it to ignore the memory access
// of these CAS instructions only (their acquire/release still counts). A
// real overlap would still be reported: the overlapping claimant then
// writes its payload with plain stores.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define SHMBUS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SHMBUS_TSAN 1
#endif
#endif

#ifdef SHMBUS_TSAN
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
#endif

namespace shmbus::transport::detail {

/// Runs `cas` (a CAS on a ring word that may be stale) and returns its result.
template <class Cas>
bool stale_cas(Cas&& cas) noexcept {
#ifdef SHMBUS_TSAN
  AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  bool done = cas();
  AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  return done;
#else
  return cas();
#endif
}

} // namespace shmbus::transport::detail
