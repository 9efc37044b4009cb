/**
 * MRC2014 header schema: types only (no logic), one documented field per header word.
 * Word numbers are 1-based 4-byte words as in the MRC2014 specification
 * (Cheng et al. 2015, J. Struct. Biol. 192:146; https://www.ccpem.ac.uk/mrc_format/mrc2014.php).
 * Byte offset of word w is 4*(w-1). Field names follow the specification so that error messages
 * ("field nsymbt") can be looked up there directly; units are in the doc comments.
 */

/** The 1024-byte MRC2014 main header, decoded with the file's own byte order. */
export interface MrcHeader {
  /** Word 1, NX: number of columns (fastest-varying axis in the file). */
  nx: number;
  /** Word 2, NY: number of rows. */
  ny: number;
  /** Word 3, NZ: number of sections (slowest axis); for image stacks the number of images. */
  nz: number;
  /** Word 4, MODE: data type of each voxel, see MRC_MODES. */
  mode: number;
  /** Word 5, NXSTART: index of the first column in the unit cell (voxels). */
  nxstart: number;
  /** Word 6, NYSTART: index of the first row (voxels). */
  nystart: number;
  /** Word 7, NZSTART: index of the first section (voxels). */
  nzstart: number;
  /** Word 8, MX: number of intervals (voxels) along X of the unit cell. */
  mx: number;
  /** Word 9, MY: intervals along Y. */
  my: number;
  /** Word 10, MZ: intervals along Z (1 for image stacks, by RELION and mrcfile practice). */
  mz: number;
  /** Words 11-13, CELLA: unit-cell edge lengths X, Y, Z in Angstrom; voxel size = cella / m. */
  cella: [number, number, number];
  /** Words 14-16, CELLB: unit-cell angles alpha, beta, gamma in degrees (90 for EM). */
  cellb: [number, number, number];
  /** Word 17, MAPC: which axis (1=X, 2=Y, 3=Z) the columns run along. */
  mapc: number;
  /** Word 18, MAPR: which axis the rows run along. */
  mapr: number;
  /** Word 19, MAPS: which axis the sections run along. */
  maps: number;
  /** Word 20, DMIN: minimum density value (data units; unreliable, writers often leave junk). */
  dmin: number;
  /** Word 21, DMAX: maximum density value. */
  dmax: number;
  /** Word 22, DMEAN: mean density value. */
  dmean: number;
  /** Word 23, ISPG: space group; 0 = image stack, 1 = single volume, 401-630 = volume stack. */
  ispg: number;
  /** Word 24, NSYMBT: size of the extended header in bytes (follows the 1024-byte header). */
  nsymbt: number;
  /** Word 27, EXTTYP: 4-character code of the extended header type (e.g. "CCP4", "FEI1"). */
  exttyp: string;
  /** Word 28, NVERSION: format version, 20140 for MRC2014 (0 in older files). */
  nversion: number;
  /** Words 50-52, ORIGIN: origin of the map along X, Y, Z in Angstrom (MRC2014 meaning). */
  origin: [number, number, number];
  /** Word 53, MAP: the characters "MAP " identifying the file type (absent in old writers). */
  map: string;
  /** Word 54, MACHST: machine stamp bytes; 0x44 0x44 / 0x44 0x41 little endian, 0x11 0x11 big. */
  machst: [number, number, number, number];
  /** Word 55, RMS: standard deviation of the density about its mean (population). */
  rms: number;
  /** Word 56, NLABL: number of labels in use (0-10). */
  nlabl: number;
  /** Words 57-256, LABEL: up to 10 text labels of 80 characters (only the first nlabl, trimmed). */
  labels: string[];
}

/** A decoded header plus what the reader decided about the file (never shared state). */
export interface MrcHeaderInfo {
  header: MrcHeader;
  /** Byte order of this file, from the machine stamp or (if that is 0/garbage) from MODE/dims. */
  littleEndian: boolean;
  /** Non-fatal findings (fallback byte order, unset pixel size, odd axis order, file padding). */
  warnings: string[];
  /** Byte offset of the first data value: 1024 + nsymbt. */
  dataOffsetBytes: number;
  /** Bytes per stored voxel for the file's mode. */
  bytesPerVoxel: number;
  /** Size of the whole file in bytes. */
  fileSizeBytes: number;
  /**
   * Validated axis order: which axis (0=X, 1=Y, 2=Z) the file's columns, rows and sections run
   * along, i.e. [mapc-1, mapr-1, maps-1]; [0, 1, 2] when the header's values are not a permutation.
   */
  axes: [number, number, number];
  /** Map size along X, Y, Z after undoing the axis permutation. */
  dimsXyz: [number, number, number];
  /** Pixel size CELLA.x/MX in Angstrom, or null when unset or implausible (see mrcHeader.ts). */
  apix: number | null;
}

/** One supported storage mode: how a voxel is stored and what it is called. */
export interface MrcModeInfo {
  mode: number;
  bytes: number;
  name: string;
}

/**
 * Modes cryospin reads. Mode 0 is read as SIGNED int8, as MRC2014 specifies; some old writers
 * (pre-2014 IMOD, some EM software) stored unsigned bytes in mode 0, and such files would read
 * with values above 127 wrapped to negative numbers. We follow the standard.
 */
export const MRC_MODES: ReadonlyMap<number, MrcModeInfo> = new Map([
  [0, { mode: 0, bytes: 1, name: 'int8' }],
  [1, { mode: 1, bytes: 2, name: 'int16' }],
  [2, { mode: 2, bytes: 4, name: 'float32' }],
  [6, { mode: 6, bytes: 2, name: 'uint16' }],
  [12, { mode: 12, bytes: 2, name: 'float16' }],
]);

/** Modes defined by MRC2014 (or common practice) that cryospin recognises but does not read. */
export const MRC_UNSUPPORTED_MODES: ReadonlyMap<number, string> = new Map([
  [3, 'complex int16'],
  [4, 'complex float32'],
  [101, '4-bit packed'],
]);

/** Header size in bytes (fixed by the format). */
export const MRC_HEADER_BYTES = 1024;

/** Value of NVERSION written by cryospin. */
export const MRC_NVERSION_2014 = 20140;
