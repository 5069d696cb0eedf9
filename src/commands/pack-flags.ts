import type { Command } from 'commander';
import { runApplicationName } from '../db/run-lock.js';

/** Declares the flags every command that reads a pack takes. */
export const packFlags = (cmd: Command): Command =>
  cmd
    .option('--name <name>', 'pack name (default: the file or directory name)')
    .option('--allow-unsafe', 'run statements that are not additive optimizations (DROP TABLE, ALTER, DML…)');

/** Their values, as commander hands them over (with each command's own flags). */
export interface PackFlags {
  name?: string;
  allowUnsafe?: boolean;
  concurrently: boolean;
  replaceChanged?: boolean;
}

/** application_name on our connections: "pgopt apply <pack> [pid@host]" in pg_stat_activity (db/run-lock.ts). */
export const appName = (verb: string, pack: string) => runApplicationName(verb, pack);
