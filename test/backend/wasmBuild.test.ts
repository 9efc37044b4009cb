/**
 * The committed wasm/kernels.wasm and its embedded copy are what scripts/build-wasm.sh produces
 * from wasm/*.c today (the build is deterministic). Skipped where clang/wasm-ld are missing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const hasClang = spawnSync('clang', ['--version']).status === 0 && spawnSync('wasm-ld', ['--version']).status === 0;

test('rebuilding the kernels reproduces the committed bytes', { skip: hasClang ? false : 'clang/wasm-ld not installed' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-wasm-'));
  try {
    execFileSync('bash', ['scripts/build-wasm.sh', dir], { stdio: 'pipe' });
    assert.ok(readFileSync(join(dir, 'kernels.wasm')).equals(readFileSync('wasm/kernels.wasm')), 'kernels.wasm differs: run npm run build:wasm');
    assert.equal(readFileSync(join(dir, 'kernelsBinary.ts'), 'utf8'), readFileSync('src/core/backend/wasm/kernelsBinary.ts', 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
