import type { SessionInfo } from '../db/catalog.js';

/** What the core reports while it works; the CLI decides how (spinner, plain lines, nothing). */
export type ProgressEvent =
  | { type: 'step'; message: string; /** Without a terminal, only the first step of a group is printed. */ group?: string }
  | { type: 'waiting-for-transactions'; object: string; sessions: SessionInfo[] }
  | { type: 'lock-retry'; what: string; attempt: number; blockers: SessionInfo[] }
  | {
      type: 'build-progress';
      object: string;
      /** pg_stat_progress_create_index.phase, e.g. "building index: scanning table". */
      phase: string;
      percent: number | null;
      elapsedMs: number;
      blocksDone?: number;
      blocksTotal?: number;
      tuplesDone?: number;
      tuplesTotal?: number;
    }
  | { type: 'done'; message: string }
  | { type: 'warning'; message: string };

export type ProgressListener = (e: ProgressEvent) => void;
