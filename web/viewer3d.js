// 3D view of a density map: isosurface by marching cubes (three.js addon) in a WebGL canvas.
// three.js rather than Mol*: ~1 MB of plain ES modules served from node_modules with no bundler,
// and it renders reliably under software GL (SwiftShader) in headless Chromium for the CI test.
import * as THREE from '/vendor/three/build/three.module.js';
import { MarchingCubes } from '/vendor/three/addons/MarchingCubes.js';
import { OrbitControls } from '/vendor/three/addons/OrbitControls.js';

export class MapViewer {
  constructor(canvas) {
    this.canvas = canvas;
    this.renderer = new THREE.WebGLRenderer({ canvas, antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(1);
    this.renderer.setSize(canvas.width, canvas.height, false);
    this.renderer.setClearColor(0x111111);
    this.scene = new THREE.Scene();
    this.camera = new THREE.PerspectiveCamera(35, canvas.width / canvas.height, 0.1, 100);
    this.camera.position.set(0, 0, 4.2);
    this.scene.add(new THREE.AmbientLight(0xffffff, 0.45));
    const light = new THREE.DirectionalLight(0xffffff, 1.6);
    light.position.set(1, 1, 2);
    this.camera.add(light);
    this.scene.add(this.camera);
    this.material = new THREE.MeshPhongMaterial({ color: 0x5fa8d3, specular: 0x222222, shininess: 30, side: THREE.DoubleSide });
    this.mesh = null;
    this.controls = new OrbitControls(this.camera, canvas);
    this.controls.addEventListener('change', () => this.render());
    this.volume = null;
    this.fraction = 0.08;
    this.triangles = 0;
  }

  /** volume: Float32Array D^3 (x fastest). */
  setVolume(data, D) {
    this.volume = { data, D };
    if (!this.mesh || this.mesh.resolution !== D) {
      if (this.mesh) { this.scene.remove(this.mesh); this.mesh.geometry.dispose(); }
      this.mesh = new MarchingCubes(D, this.material, false, false, 200000);
      this.mesh.resolution = D;
      this.mesh.scale.set(1, 1, 1);
      this.scene.add(this.mesh);
    }
    this.update();
  }

  /** Fraction of voxels inside the surface (0..1). */
  setFraction(f) {
    this.fraction = f;
    if (this.volume) this.update();
  }

  level() {
    const { data } = this.volume;
    const step = Math.max(1, Math.floor(data.length / 100000));
    const s = [];
    for (let i = 0; i < data.length; i += step) s.push(data[i]);
    s.sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((1 - this.fraction) * s.length))];
  }

  update() {
    const { data, D } = this.volume;
    const lvl = this.level();
    const field = this.mesh.field;
    // zero the one-voxel border so the surface closes at the box edge
    for (let z = 0; z < D; z++) for (let y = 0; y < D; y++) for (let x = 0; x < D; x++) {
      const i = x + D * (y + D * z);
      const edge = x === 0 || y === 0 || z === 0 || x >= D - 2 || y >= D - 2 || z >= D - 2;
      field[i] = edge ? Math.min(data[i], lvl - 1e-6) : data[i];
    }
    this.mesh.isolation = lvl;
    this.mesh.update();
    this.triangles = this.mesh.count / 3;
    this.render();
  }

  render() {
    this.renderer.render(this.scene, this.camera);
  }
}
