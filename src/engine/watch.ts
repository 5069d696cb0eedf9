import type { ProgressListener } from './progress.js';
import { indexOnPlacements, nameHashes, shardPlacements } from '../db/citus.js';
import type { Session } from '../db/session.js';

/**
 * Watches long work on another backend; returns a stop function. `shards`: a Citus distributed
 * build, whose work happens on the workers.
 */
export type Watch = (
  backendPid: number,
  object: string,
  kind: 'index' | 'matview',
  shards?: { tableOid: number; index: string },
) => () => void;

const POLL_MS = 500;

/**
 * Live progress of a build from pg_stat_progress_create_index (PostgreSQL 12+), read over a
 * separate monitor connection since the building one is busy. Views have no progress view:
 * they report elapsed time.
 */
export function progressWatcher(monitor: Session, onProgress: ProgressListener): Watch {
  let busy: Promise<unknown> = Promise.resolve();
  return (pid, object, kind, shards) => {
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
        // On Citus the coordinator only builds its empty copy: the shards are read instead.
        if (!p && shards && !stopped) {
          const s = await shardProgress(monitor, shards.tableOid, shards.index).catch(() => null);
          if (s && !stopped) onProgress({ type: 'build-progress', object, elapsedMs, ...s });
          return;
        }
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

/** How far a distributed build is: its shard indexes already valid, per node. */
async function shardProgress(monitor: Session, tableOid: number, index: string): Promise<{ phase: string; percent: number }> {
  const hash = (await nameHashes(monitor, [index])).get(index)!;
  const placements = indexOnPlacements(await shardPlacements(monitor, tableOid), index, hash);
  const perNode = new Map<number, { done: number; total: number }>();
  for (const p of placements) {
    const n = perNode.get(p.port) ?? { done: 0, total: 0 };
    n.total++;
    if (p.valid) n.done++;
    perNode.set(p.port, n);
  }
  const done = placements.filter((p) => p.valid).length;
  const nodes = [...perNode].map(([port, n]) => `:${port} ${n.done}/${n.total}`).join(', ');
  return { phase: `building on the shards (${nodes})`, percent: placements.length ? (100 * done) / placements.length : 0 };
}
