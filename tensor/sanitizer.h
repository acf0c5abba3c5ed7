// Which sanitizer instruments this build, as preprocessor flags (0 or 1): GCC defines
// __SANITIZE_ADDRESS__ and __SANITIZE_THREAD__, clang (before 22) answers only through
// __has_feature. A test that reads GCC's macro alone silently loses its ASan-only checks
// in a clang build (.ci/run builds ASan and TSan with clang).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define EMBER_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_HAS_ASAN 1
#endif
#endif
#ifndef EMBER_HAS_ASAN
#define EMBER_HAS_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define EMBER_HAS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EMBER_HAS_TSAN 1
#endif
#endif
#ifndef EMBER_HAS_TSAN
#define EMBER_HAS_TSAN 0
#endif
