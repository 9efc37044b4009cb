#!/usr/bin/env bash
# Builds the WebAssembly SIMD kernels (wasm/*.c) into wasm/kernels.wasm and the embedded copy
# src/core/backend/wasm/kernelsBinary.ts (base64, so dist/ needs no asset copying).
# Needs Debian's clang and lld (wasm-ld). Deterministic: no timestamps, fixed flags, paths
# relative to the repo (debug info stripped), so a rebuild gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG="${CLANG:-clang}"
out=wasm/kernels.wasm
"$CLANG" --target=wasm32 -O3 -msimd128 -mbulk-memory -matomics -nostdlib -ffreestanding \
  -fno-builtin -Wall -Werror -Wno-unused-function \
  -Wl,--no-entry,--import-memory,--shared-memory,--max-memory=2147483648,--export-dynamic,--strip-all \
  -o "$out" wasm/slices.c wasm/fft.c
node scripts/embed-wasm.mjs "$out" src/core/backend/wasm/kernelsBinary.ts
echo "built $out ($(wc -c < "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-16))"
