// What a ThreadSanitizer build of the video code needs (tools/test --sanitize=thread).
#pragma once

#if defined(__SANITIZE_THREAD__)
#define PSMFLOW_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PSMFLOW_TSAN 1
#endif
#endif

#include <opencv2/core/utility.hpp>

#ifdef PSMFLOW_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace psmflow::video {

// PSMFLOW_AVX2_CLONES: a function compiled for AVX2 and for the baseline, picked when the library
// loads (target_clones). The pick is an ifunc resolver that the dynamic loader runs during
// relocation, before TSan's runtime has started; clang 14 instruments it, and every program that
// loads libpsmflow.so dies there. A TSan build keeps the baseline only.
#ifdef PSMFLOW_TSAN
#define PSMFLOW_AVX2_CLONES
#else
#define PSMFLOW_AVX2_CLONES __attribute__((target_clones("avx2", "default")))
#endif

// cv::parallel_for_, with its fork and join told to TSan. OpenCV hands the bodies to its
// uninstrumented thread pool (TBB) and joins them there, where TSan sees neither: what the caller
// wrote before the loop, and what it does after it to what the bodies used (even destroying the
// body), read as races. Races between the bodies themselves are still reported: the two edges
// have addresses of their own.
template <class Body>
void pool_for(const cv::Range& range, const Body& body) {
  struct Run : cv::ParallelLoopBody {
    const Body& body;
    char fork = 0, join = 0;  // only their addresses matter
    explicit Run(const Body& b) : body(b) {}
    void operator()(const cv::Range& r) const override {
#ifdef PSMFLOW_TSAN
      __tsan_acquire(const_cast<char*>(&fork));
#endif
      body(r);
#ifdef PSMFLOW_TSAN
      __tsan_release(const_cast<char*>(&join));
#endif
    }
  } run(body);
#ifdef PSMFLOW_TSAN
  __tsan_release(&run.fork);
#endif
  cv::parallel_for_(range, run);
#ifdef PSMFLOW_TSAN
  __tsan_acquire(&run.join);
#endif
}

}  // namespace psmflow::video
