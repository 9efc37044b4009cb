/**
 * Bundle the browser build (browser/app.ts -> browser/dist/app.js) with esbuild.
 * esbuild (already in node_modules as tsx's compiler; pinned in devDependencies) bundles the
 * TypeScript sources directly, in ~1 s, with no config files; the alternatives (webpack, rollup +
 * plugins) need a TypeScript plugin chain for the same result. Node built-ins that the shared
 * modules import but the browser path never calls (fs, worker_threads, ...) become stubs that
 * throw if called; node:path becomes a small POSIX shim (shims/path.ts).
 *
 *   node --import tsx browser/build.ts [--minify]
 */
import { build, type Plugin } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

const nodeShims: Plugin = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^(node:)?path$/ }, () => ({ path: join(here, 'shims', 'path.ts') }));
    b.onResolve({ filter: /^node:|^(fs|os|url|module|crypto|worker_threads|child_process|util|events|stream|zlib|http|https|net|perf_hooks)$/ },
      (a) => ({ path: a.path.replace(/^node:/, ''), namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, (a) => ({
      loader: 'js',
      contents: `const name = ${JSON.stringify(a.path)};
module.exports = new Proxy({}, { get(_, k) {
  if (k === '__esModule') return false;
  return function () { throw new Error('node:' + name + '.' + String(k) + ' is not available in the browser'); };
} });`,
    }));
  },
};

export async function buildBrowser(opts: { minify?: boolean } = {}): Promise<string> {
  const outfile = join(here, 'dist', 'app.js');
  await build({
    entryPoints: [join(here, 'app.ts')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    outfile, minify: opts.minify ?? false, sourcemap: false, logLevel: 'warning', plugins: [nodeShims],
    banner: { js: "globalThis.process ??= { env: {}, versions: {}, platform: 'browser', cwd: () => '/', emitWarning: () => {} };" },
  });
  return outfile;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = await buildBrowser({ minify: process.argv.includes('--minify') });
  console.error(`browser bundle: ${out}`);
}
