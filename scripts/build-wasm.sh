#!/usr/bin/env bash
# Builds the WebAssembly SIMD kernels (wasm/*.c) into wasm/kernels.wasm and the embedded copy
# src/core/backend/wasm/kernelsBinary.ts (base64, so dist/ needs no asset copying).
# Usage: scripts/build-wasm.sh [outdir]   (default: write the two files in place)
# Needs Debian's clang and lld (wasm-ld); tested with clang/lld 14. Deterministic: fixed flags, no
# timestamps, no debug info or producer section (--strip-all), so a rebuild gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
CLANG="${CLANG:-clang}"
WASM_LD="${WASM_LD:-wasm-ld}"
sources=(wasm/slices.c wasm/slices_pairs.c wasm/hartley.c wasm/fft.c)
outdir="${1:-}"
wasm_out="${outdir:-wasm}/kernels.wasm"
ts_out="${outdir:-src/core/backend/wasm}/kernelsBinary.ts"
cflags=(--target=wasm32 -O3 -msimd128 -mbulk-memory -matomics -nostdlib -ffreestanding -fno-builtin
  -Wall -Werror -Wno-unused-function)
# All threads share one memory and one C shadow stack: the kernels must not use that stack.
# (The assembly goes to a file first: `clang | grep -q` under pipefail would hide a match, since
# grep -q exits at the first match and clang then fails with SIGPIPE.)
asm="$(mktemp)"
for src in "${sources[@]}"; do
  "$CLANG" "${cflags[@]}" -S -o "$asm" "$src"
  if grep -q __stack_pointer "$asm"; then
    echo "build-wasm: $src uses the shadow stack (a local array or a non-inlined struct argument?)" >&2
    rm -f "$asm"
    exit 1
  fi
done
rm -f "$asm"
# Compile and link in two steps: the clang driver, when linking, runs any `wasm-opt` it finds on
# PATH (npm puts binaryen's, from assemblyscript, there), which would change or break the output.
objdir="$(mktemp -d)"
trap 'rm -rf "$objdir"' EXIT
objs=()
for src in "${sources[@]}"; do
  obj="$objdir/$(basename "$src" .c).o"
  "$CLANG" "${cflags[@]}" -c -o "$obj" "$src"
  objs+=("$obj")
done
"$WASM_LD" --no-entry --import-memory --shared-memory --max-memory=2147483648 --export-dynamic --strip-all \
  -o "$wasm_out" "${objs[@]}"
node scripts/embed-wasm.mjs "$wasm_out" "$ts_out"
echo "built $wasm_out ($(wc -c < "$wasm_out") bytes, sha256 $(sha256sum "$wasm_out" | cut -c1-16))"
