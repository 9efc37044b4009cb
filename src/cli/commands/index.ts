/**
 * The explicit list of cryospin commands (no folder scanning): each module exports
 * `register(program)`, which adds one subcommand whose action parses options, validates
 * paths and makes one or two library calls.
 */
import type { Command } from 'commander';

export type RegisterCommand = (program: Command) => void;

export const COMMANDS: RegisterCommand[] = [];
