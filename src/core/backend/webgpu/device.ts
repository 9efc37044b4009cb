/**
 * Acquire a WebGPU device. In a browser: navigator.gpu. In Node: the `webgpu` npm package
 * (Dawn). Without a GPU, Dawn's OpenGL ES backend on Mesa llvmpipe works (Debian packages
 * libegl1 libgles2 libegl-mesa0; see shared docs engine.md): we ask for a normal adapter first,
 * then for backend=opengles at feature level 'compatibility'. EGL_PLATFORM=surfaceless and
 * XDG_RUNTIME_DIR are set if missing (EGL reads them when Dawn first opens a display).
 */

export interface GpuContext {
  device: GPUDevice;
  /** Human-readable description of the adapter (for logs and test messages). */
  description: string;
}

/** The GPUBufferUsage / GPUMapMode flag constants (globals in browsers, exported by `webgpu` in Node). */
export interface GpuFlags {
  STORAGE: number; UNIFORM: number; COPY_SRC: number; COPY_DST: number; MAP_READ: number; READ: number;
}

export let flags: GpuFlags = { STORAGE: 0x80, UNIFORM: 0x40, COPY_SRC: 0x4, COPY_DST: 0x8, MAP_READ: 0x1, READ: 0x1 };

interface NavigatorWithGpu { gpu?: GPU }

/**
 * Dawn's instances must stay referenced for as long as their devices are used: a collected
 * instance tears Dawn down under a live device (random crashes at the next GC).
 */
const liveInstances: GPU[] = [];

async function nodeGpu(options: string[]): Promise<GPU | null> {
  const spec = 'webgpu';
  const mod = (await import(spec)) as { create: (o: string[]) => GPU; globals: Record<string, unknown> };
  const g = mod.globals as { GPUBufferUsage?: Record<string, number>; GPUMapMode?: Record<string, number> };
  if (g.GPUBufferUsage && g.GPUMapMode) {
    flags = { STORAGE: g.GPUBufferUsage['STORAGE']!, UNIFORM: g.GPUBufferUsage['UNIFORM']!, COPY_SRC: g.GPUBufferUsage['COPY_SRC']!,
      COPY_DST: g.GPUBufferUsage['COPY_DST']!, MAP_READ: g.GPUBufferUsage['MAP_READ']!, READ: g.GPUMapMode['READ']! };
  }
  const gpu = mod.create(options);
  liveInstances.push(gpu);
  return gpu;
}

/** Request a device, or explain why none is available (the message lists what was tried). */
export async function requestGpu(): Promise<GpuContext> {
  const nav = (globalThis as { navigator?: NavigatorWithGpu }).navigator;
  const tried: string[] = [];
  if (typeof process === 'undefined' || !process.versions?.node) {
    if (!nav?.gpu) throw new Error('WebGPU is not available in this browser (navigator.gpu is undefined)');
    const ad = await nav.gpu.requestAdapter();
    if (!ad) throw new Error('WebGPU: the browser returned no adapter');
    return { device: await ad.requestDevice(), description: 'browser WebGPU' };
  }
  process.env['EGL_PLATFORM'] ??= 'surfaceless';
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const attempts: Array<{ options: string[]; req: GPURequestAdapterOptions; what: string }> = [
    { options: ['backend=opengles'], req: { featureLevel: 'compatibility' } as GPURequestAdapterOptions, what: 'OpenGL ES (compatibility)' },
  ];
  if (process.env['CRYOSPIN_WEBGPU_NATIVE'] === '1') attempts.unshift({ options: [], req: {}, what: 'default backend' });
  for (const a of attempts) {
    try {
      const gpu = await nodeGpu(a.options);
      if (!gpu) { tried.push(`${a.what}: no GPU object`); continue; }
      const ad = await gpu.requestAdapter(a.req);
      if (!ad) { tried.push(`${a.what}: no adapter`); continue; }
      const lim = ad.limits;
      const device = await ad.requestDevice({
        requiredLimits: {
          maxStorageBufferBindingSize: lim.maxStorageBufferBindingSize,
          maxBufferSize: lim.maxBufferSize,
          maxStorageBuffersPerShaderStage: lim.maxStorageBuffersPerShaderStage,
          maxComputeWorkgroupStorageSize: lim.maxComputeWorkgroupStorageSize,
          maxComputeInvocationsPerWorkgroup: lim.maxComputeInvocationsPerWorkgroup,
          maxComputeWorkgroupSizeX: lim.maxComputeWorkgroupSizeX,
        },
      });
      const info = (ad as unknown as { info?: GPUAdapterInfo }).info;
      const desc = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ');
      return { device, description: `${a.what}${desc ? ': ' + desc : ''}` };
    } catch (e) {
      tried.push(`${a.what}: ${(e as Error).message}`);
    }
  }
  throw new Error(`WebGPU: no adapter (${tried.join('; ')}). On Linux without a GPU install libegl1 libgles2 libegl-mesa0.`);
}
