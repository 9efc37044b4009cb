/**
 * The explicit list of cryospin commands (no folder scanning): each module exports
 * `register(program)`, which adds one subcommand whose action parses options, validates
 * paths and makes one or two library calls.
 *
 * Start-up time: every cryospin process (even `--help`) loads all these modules, so they import
 * only light code; heavy libraries (tfjs, the kernels, ml-*, resvg) are imported inside the
 * actions. For analyze, eval-vol and report, whose run functions are synchronous and need
 * those libraries, the options and action are in <name>Command.ts and the work in <name>.ts.
 */
import type { Command } from 'commander';
import { register as simulate } from './simulate.js';
import { register as reconstruct } from './reconstruct.js';
import { register as predictPoses } from './predictPoses.js';
import { register as analyze } from './analyzeCommand.js';
import { register as evalVol } from './evalVolCommand.js';
import { register as backproject } from './backproject.js';
import { register as fsc } from './fsc.js';
import { register as align } from './align.js';
import { register as poseError } from './poseError.js';
import { register as report } from './reportCommand.js';
import { register as serve } from './serve.js';
import { register as info } from './info.js';
import { register as downsample } from './downsample.js';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [
  simulate, downsample, reconstruct, predictPoses, analyze, evalVol, backproject,
  fsc, align, poseError, report, serve, info,
];
