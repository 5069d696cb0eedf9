import type pg from 'pg';
import { recentEvents, readRows, registryExists, type EventRow, type RegistryRow } from './registry.js';

export interface PackStatus {
  pack: string;
  objects: RegistryRow[];
  lastEvent: EventRow | null;
}

export interface StatusResult {
  registry: boolean;
  packs: PackStatus[];
  events: EventRow[];
}

/** Per pack: what is applied, when, by whom, how long it took; and the recent events. */
export async function readStatus(c: pg.Client, opts: { pack?: string; events: number }): Promise<StatusResult> {
  if (!(await registryExists(c))) return { registry: false, packs: [], events: [] };
  const rows = await readRows(c, opts.pack);
  const events = await recentEvents(c, opts.events, opts.pack);
  const names = [...new Set(rows.map((r) => r.pack))];
  const packs = names.map((pack) => ({
    pack,
    objects: rows.filter((r) => r.pack === pack),
    lastEvent: events.find((e) => e.pack === pack) ?? null,
  }));
  return { registry: true, packs, events };
}
