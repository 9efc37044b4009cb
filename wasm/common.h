/* Shared definitions for the cryospin WebAssembly kernels (no libc: built with -nostdlib). */
#ifndef CRYOSPIN_WASM_COMMON_H
#define CRYOSPIN_WASM_COMMON_H
typedef unsigned long size_t;
/* exported through -Wl,--export-dynamic */
#define EXPORT __attribute__((visibility("default")))
/* kernels must not use the shadow stack (shared by all threads): force inlining of helpers */
#define INLINE static inline __attribute__((always_inline))
#endif
