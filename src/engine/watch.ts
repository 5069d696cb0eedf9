import type pg from 'pg';
import type { ProgressListener } from './progress.js';

/** Watches long work on another backend; returns a stop function. */
export type Watch = (backendPid: number, object: string, kind: 'index' | 'matview') => () => void;

const POLL_MS = 500;

/**
 * Live progress of a build from pg_stat_progress_create_index (PostgreSQL 12+), read over a
 * separate monitor connection since the building one is busy. Views have no progress view:
 * they report elapsed time.
 */
export function progressWatcher(monitor: pg.Client, onProgress: ProgressListener): Watch {
  let busy: Promise<unknown> = Promise.resolve();
  return (pid, object, kind) => {
    const started = performance.now();
    let stopped = false;
    const tick = () => {
      busy = busy.then(async () => {
        if (stopped) return;
        const elapsedMs = performance.now() - started;
        if (kind === 'matview') {
          onProgress({ type: 'build-progress', object, phase: 'creating materialized view', percent: null, elapsedMs });
          return;
        }
        const r = await monitor
          .query(
            `SELECT phase, blocks_done::float8 AS bd, blocks_total::float8 AS bt, tuples_done::float8 AS td, tuples_total::float8 AS tt
               FROM pg_stat_progress_create_index WHERE pid = $1`,
            [pid],
          )
          .catch(() => ({ rows: [] as { phase: string; bd: number; bt: number; td: number; tt: number }[] }));
        const p = r.rows[0];
        if (!p || stopped) return;
        const percent = p.bt > 0 ? (100 * p.bd) / p.bt : p.tt > 0 ? (100 * p.td) / p.tt : null;
        onProgress({
          type: 'build-progress',
          object,
          phase: p.phase,
          percent,
          elapsedMs,
          blocksDone: p.bd,
          blocksTotal: p.bt,
          tuplesDone: p.td,
          tuplesTotal: p.tt,
        });
      });
    };
    const timer = setInterval(tick, POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  };
}
