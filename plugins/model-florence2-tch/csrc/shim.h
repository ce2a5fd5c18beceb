// What every entry point of the C++ shims shares: errors cross to Rust as a NUL-terminated
// message in a caller's buffer (src/shim.rs reads it) and a non-zero return code.
#pragma once

#include <cstddef>
#include <cstring>

inline int lmm_error(const char *what, char *err, size_t err_len) {
  std::strncpy(err, what, err_len - 1);
  err[err_len - 1] = 0;
  return 1;
}
