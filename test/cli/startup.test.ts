/**
 * Start-up cost of the command line: `cryospin --help` (and so every command before its action
 * runs) must not load the heavy libraries — tfjs, the kernel backends (webgpu), three, ml-pca /
 * ml-kmeans, resvg/pngjs/d3 — nor the training code; the commands import them inside their
 * actions. A loader hook in the child process lists every module it loads (ES modules through
 * module.register hooks, CommonJS through Module._load).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const HEAVY = /node_modules\/(@tensorflow|webgpu|three|ml-|@resvg|pngjs|d3-)|src\/(model|recon\/(semiAmortized|amortized|heterogeneous|reconstructJob|jobRunner|diskSource)|report|server\/server)\b/;

test('cryospin --help loads no heavy library and no training code', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cryospin-startup-'));
  try {
    const hooks = join(dir, 'hooks.mjs');
    writeFileSync(hooks, 'export async function load(url, context, next) {\n  process.stderr.write(`LOADED ${url}\\n`);\n  return next(url, context);\n}\n');
    const reg = join(dir, 'register.mjs');
    writeFileSync(reg, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
    const cjs = join(dir, 'cjs.cjs');
    writeFileSync(cjs, "const M = require('module'); const load = M._load;\n" +
      "M._load = function (req, parent, isMain) { try { process.stderr.write('LOADED ' + M._resolveFilename(req, parent, isMain) + '\\n'); } catch {} return load.apply(this, arguments); };\n");
    const loadedBy = (args: string[]): { status: number | null; stdout: string; stderr: string; heavy: string[] } => {
      const r = spawnSync(process.execPath, ['--require', cjs, '--import', 'tsx', '--import', reg, ...args], { encoding: 'utf8' });
      const loaded = [...new Set(r.stderr.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7)))];
      assert.ok(loaded.some((u) => u.includes('commander')), 'the hooks see the modules loaded');
      return { status: r.status, stdout: r.stdout, stderr: r.stderr, heavy: loaded.filter((u) => HEAVY.test(u.replaceAll('\\', '/'))) };
    };
    const help = loadedBy([resolve('src/cli/main.ts'), '--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: cryospin/);
    assert.deepEqual(help.heavy, [], `loaded by --help: ${help.heavy.join(', ')}`);
    // control: the detector does see tfjs when its set-up module is imported
    const job = loadedBy(['-e', `await import('commander'); await import(${JSON.stringify(pathToFileURL(resolve('src/model/tfjsSetup.ts')).href)});`]);
    assert.equal(job.status, 0, job.stderr);
    assert.ok(job.heavy.some((u) => u.includes('@tensorflow')), `control: tfjs seen (${job.heavy.length} heavy modules)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
