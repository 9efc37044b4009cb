/**
 * Maps a request path onto a file inside one root folder, refusing everything that could reach
 * outside it: NUL bytes, backslashes, malformed or double percent-encoding, `.`/`..` segments
 * (raw or encoded), dot-files, empty segments (`//`, absolute paths), drive letters, and
 * symbolic links whose target resolves outside the root (checked with realpath after the
 * lexical checks). Only regular files are served: directories answer 404 (no listings).
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';

export type SafePathResult = { ok: true; path: string; size: number } | { ok: false; status: 400 | 403 | 404; reason: string };

/** True if `child` (absolute, normalised) is `root` or inside it. */
export function isInside(root: string, child: string): boolean {
  const rel = relative(root, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel) && rel.split(sep)[0] !== '..');
}

/**
 * Resolve `rawPath` (the URL path after the route prefix, still percent-encoded, no query)
 * inside `realRoot` (already realpath'ed).
 */
export function resolveInside(realRoot: string, rawPath: string): SafePathResult {
  if (rawPath.includes('\0') || /%00/i.test(rawPath)) return { ok: false, status: 400, reason: 'NUL byte' };
  if (rawPath.includes('\\') || /%5c/i.test(rawPath)) return { ok: false, status: 400, reason: 'backslash' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return { ok: false, status: 400, reason: 'malformed percent-encoding' };
  }
  if (decoded.includes('%')) return { ok: false, status: 400, reason: 'double percent-encoding' };
  if (decoded.includes('\0') || decoded.includes('\\')) return { ok: false, status: 400, reason: 'NUL byte or backslash' };
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) return { ok: false, status: 400, reason: 'control character' };
  const p = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  if (p === '') return { ok: false, status: 404, reason: 'no file named' };
  if (/^[a-zA-Z]:/.test(p) || isAbsolute(p)) return { ok: false, status: 400, reason: 'absolute path' };
  const segments = p.split('/');
  for (const s of segments) {
    if (s === '') return { ok: false, status: 400, reason: 'empty path segment' };
    if (s === '.' || s === '..') return { ok: false, status: 400, reason: 'dot segment' };
    if (s.startsWith('.')) return { ok: false, status: 403, reason: 'hidden file' };
  }
  const lexical = join(realRoot, ...segments);
  if (!isInside(realRoot, lexical)) return { ok: false, status: 403, reason: 'outside the run folder' };
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch {
    return { ok: false, status: 404, reason: 'not found' };
  }
  if (!isInside(realRoot, real)) return { ok: false, status: 403, reason: 'link leads outside the run folder' };
  try {
    const st = statSync(real);
    if (!st.isFile()) return { ok: false, status: 404, reason: 'not a file' };
    return { ok: true, path: real, size: st.size };
  } catch {
    return { ok: false, status: 404, reason: 'not found' };
  }
}
