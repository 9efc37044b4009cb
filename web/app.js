// cryospin dashboard: polls nothing by itself; refreshes when the server's Server-Sent Events
// report a new run version (any output file changed), with a slow status poll as fallback.
import { MapViewer } from '/viewer3d.js';

const state = { version: null, updates: 0, volumeKey: null, slicesKey: null, viewer: null, error: null, rendered3d: false };
window.__dashboard = state;

const $ = (id) => document.getElementById(id);

async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) return null;
  return r.json();
}

function mapChoice() { return $('map-choice').value; }

function drawGray(canvas, values, D) {
  canvas.width = D;
  canvas.height = D;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(D, D);
  const sorted = Float32Array.from(values).sort();
  const lo = sorted[Math.floor(0.005 * (sorted.length - 1))];
  const hi = sorted[Math.floor(0.995 * (sorted.length - 1))];
  const s = hi > lo ? 255 / (hi - lo) : 0;
  for (let i = 0; i < D * D; i++) {
    const v = Math.max(0, Math.min(255, Math.round((values[i] - lo) * s)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
}

function summary(st) {
  const parts = [];
  parts.push(st.finished ? 'finished' : st.epochs > 0 ? 'running' : 'waiting for the first epoch');
  if (st.last) {
    parts.push(`epoch ${st.last.epoch} (${st.last.stage ?? ''})`);
    if (typeof st.last.loss === 'number') parts.push(`loss ${st.last.loss.toPrecision(4)}`);
    if (typeof st.last.wall_s === 'number') parts.push(`${(st.last.wall_s / 60).toFixed(1)} min`);
    if (typeof st.last.res05_px === 'number') parts.push(`FSC0.5 vs truth ${st.last.res05_px.toFixed(2)} px`);
  }
  if (st.result && typeof st.result.half_res0143_px === 'number') parts.push(`half-map FSC0.143 ${st.result.half_res0143_px.toFixed(2)} px`);
  return parts.join(' · ');
}

async function refreshSlices(st) {
  const kind = $('show-projections').checked ? 'projections' : 'slices';
  const key = `${st.version}|${kind}|${mapChoice()}`;
  if (key === state.slicesKey) return;
  const s = await getJson(`/api/slices?kind=${kind}&map=${mapChoice()}`);
  if (!s) return;
  drawGray($('slice-z'), s.z, s.D);
  drawGray($('slice-y'), s.y, s.D);
  drawGray($('slice-x'), s.x, s.D);
  $('slices-source').textContent = `${s.file}, box ${s.D}`;
  state.slicesKey = key;
}

async function refreshVolume() {
  const v = await getJson(`/api/volume?max=64&map=${mapChoice()}`);
  if (!v) return;
  const key = `${v.file}|${v.mtimeMs}`;
  if (key === state.volumeKey) return;
  const bytes = Uint8Array.from(atob(v.data), (c) => c.charCodeAt(0));
  const data = new Float32Array(bytes.buffer);
  if (!state.viewer) state.viewer = new MapViewer($('view3d'));
  state.viewer.setVolume(data, v.D);
  state.volumeKey = key;
  state.rendered3d = state.viewer.triangles > 0;
  $('map3d-source').textContent = `${v.file}, shown at box ${v.D}, ${state.viewer.triangles} triangles`;
}

async function refresh() {
  const st = await getJson('/api/status');
  if (!st) return;
  const changed = st.version !== state.version;
  state.version = st.version;
  $('run-summary').textContent = summary(st);
  $('footer').textContent = `${st.outdir} · version ${st.version} · updated ${new Date().toLocaleTimeString()}`;
  if (!changed && state.updates > 0) return;
  state.updates += 1;
  const v = encodeURIComponent(st.version);
  for (const name of ['fsc', 'loss', 'time', 'quality', 'poses', 'heads', 'latent']) $(`plot-${name}`).src = `/api/plot/${name}.svg?v=${v}`;
  try {
    await refreshSlices(st);
    await refreshVolume();
  } catch (e) {
    state.error = String(e);
    console.error(e);
  }
  const ind = $('live-indicator');
  ind.classList.add('flash');
  setTimeout(() => ind.classList.remove('flash'), 400);
}

let busy = false;
let again = false;
async function schedule() {
  if (busy) { again = true; return; }
  busy = true;
  try { await refresh(); } catch (e) { state.error = String(e); } finally { busy = false; }
  if (again) { again = false; schedule(); }
}

function connect() {
  const es = new EventSource('/api/events');
  es.addEventListener('version', (e) => { $('live-indicator').classList.add('on'); if (e.data !== state.version) schedule(); });
  es.onerror = () => $('live-indicator').classList.remove('on');
}

$('iso-fraction').addEventListener('input', (e) => {
  const f = Number(e.target.value) / 100;
  $('iso-value').textContent = `${e.target.value}%`;
  if (state.viewer) state.viewer.setFraction(f);
});
$('map-choice').addEventListener('change', () => { state.volumeKey = null; state.slicesKey = null; schedule(); });
$('show-projections').addEventListener('change', () => { state.slicesKey = null; schedule(); });

connect();
schedule();
setInterval(schedule, 5000); // fallback if events are blocked by a proxy
