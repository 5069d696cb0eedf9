import { dropPlacementIndexes, onShards, tableTopology } from '../db/citus.js';
import type { Session } from '../db/session.js';

/**
 * Shard indexes left on workers after their coordinator index is gone: a failed distributed
 * build, or a drop that stopped part-way. Citus's own DROP INDEX reaches only the shards of an
 * index the coordinator still has, so pgopt drops these one by one, on their nodes. A no-op
 * (and no Citus question beyond one catalog read) on anything but a distributed or reference table.
 */
export async function sweepShardLeftovers(c: Session, tableOid: number | null, schema: string, name: string): Promise<number> {
  if (!tableOid) return 0;
  const t = await tableTopology(c, tableOid);
  if (!onShards(t)) return 0;
  return dropPlacementIndexes(c, tableOid, schema, name);
}
