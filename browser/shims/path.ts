/**
 * A small POSIX `node:path` for the browser bundle (the STAR interpreter resolves image names
 * relative to the STAR file's folder; dropped files have no folders, so paths resolve against "/").
 */
export const sep = '/';
export function isAbsolute(p: string): boolean { return p.startsWith('/'); }
export function normalize(p: string): string {
  const abs = isAbsolute(p);
  const out: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') { if (out.length && out[out.length - 1] !== '..') out.pop(); else if (!abs) out.push('..'); continue; }
    out.push(s);
  }
  return (abs ? '/' : '') + out.join('/') || (abs ? '/' : '.');
}
export function resolve(...parts: string[]): string {
  let p = '';
  for (const s of parts) p = isAbsolute(s) ? s : p === '' ? s : `${p}/${s}`;
  return normalize(isAbsolute(p) ? p : `/${p}`);
}
export function join(...parts: string[]): string { return normalize(parts.filter((s) => s !== '').join('/')); }
export function dirname(p: string): string {
  const n = normalize(p);
  const i = n.lastIndexOf('/');
  return i < 0 ? '.' : i === 0 ? '/' : n.slice(0, i);
}
export function basename(p: string, ext?: string): string {
  const b = normalize(p).split('/').pop() ?? '';
  return ext && b.endsWith(ext) ? b.slice(0, -ext.length) : b;
}
export function extname(p: string): string {
  const b = basename(p);
  const i = b.lastIndexOf('.');
  return i <= 0 ? '' : b.slice(i);
}
export function relative(from: string, to: string): string {
  const a = resolve(from).split('/').filter(Boolean), b = resolve(to).split('/').filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...a.slice(i).map(() => '..'), ...b.slice(i)].join('/');
}
export default { sep, isAbsolute, normalize, resolve, join, dirname, basename, extname, relative };
