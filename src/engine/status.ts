import { displayName } from '../db/ident.js';
import { recentEvents, readRows, registryExists, type EventRow, type RegistryRow } from './registry.js';
import type { Session } from '../db/session.js';
import { readDroppedRows, type DroppedRow } from './drop-registry.js';

export interface PackStatus {
  pack: string;
  objects: RegistryRow[];
  lastEvent: EventRow | null;
}

export interface ViewFreshness {
  pack: string;
  view: string;
  /** The last refresh, or the creation when it was never refreshed. */
  refreshedAt: string | null;
  ageSeconds: number | null;
  how: 'refresh' | 'created';
  rows: number | null;
  durationMs: number | null;
}

export interface StatusResult {
  registry: boolean;
  packs: PackStatus[];
  /** Each materialized view a pack owns, with its last refresh and age. */
  views: ViewFreshness[];
  events: EventRow[];
  /** Indexes drop packs removed, with what rollback builds again. */
  dropped: DroppedRow[];
}

/** Per pack: what is applied, when, by whom, how long it took; and the recent events. */
export async function readStatus(c: Session, opts: { pack?: string; events: number }): Promise<StatusResult> {
  if (!(await registryExists(c))) return { registry: false, packs: [], views: [], events: [], dropped: [] };
  const rows = await readRows(c, opts.pack);
  const events = await recentEvents(c, opts.events, opts.pack);
  const dropped = await readDroppedRows(c, opts.pack);
  const names = [...new Set([...rows, ...dropped].map((r) => r.pack))];
  const packs = names.map((pack) => ({
    pack,
    objects: rows.filter((r) => r.pack === pack),
    lastEvent: events.find((e) => e.pack === pack) ?? null,
  }));
  const refreshes = await c.query(
    `SELECT DISTINCT ON (object) object, at, duration_ms, detail->>'rows' AS rows, extract(epoch FROM now() - at)::float8 AS age
       FROM pgopt.events WHERE action = 'refresh' AND outcome = 'refreshed' ORDER BY object, id DESC`,
  );
  const ages = await c.query(
    `SELECT schema_name, object_name, extract(epoch FROM now() - applied_at)::float8 AS age FROM pgopt.objects WHERE kind = 'matview'`,
  );
  const views = rows
    .filter((r) => r.kind === 'matview' && !r.preExisting)
    .map((r): ViewFreshness => {
      const name = displayName(r.schema, r.name);
      const last = refreshes.rows.find((e) => e.object === name);
      if (last) {
        return {
          pack: r.pack,
          view: name,
          refreshedAt: new Date(last.at).toISOString(),
          ageSeconds: Math.round(last.age),
          how: 'refresh',
          rows: last.rows === null ? null : Number(last.rows),
          durationMs: Number(last.duration_ms),
        };
      }
      const age = ages.rows.find((a) => a.schema_name === r.schema && a.object_name === r.name)?.age;
      return {
        pack: r.pack,
        view: name,
        refreshedAt: r.appliedAt,
        ageSeconds: age === undefined || age === null ? null : Math.round(age),
        how: 'created',
        rows: null,
        durationMs: r.durationMs,
      };
    });
  return { registry: true, packs, views, events, dropped };
}
