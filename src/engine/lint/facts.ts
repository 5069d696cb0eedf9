import { asUser, runOneStatement, type Session } from '../../db/session.js';
import { withRolledBackTransaction } from '../../db/scoped.js';
import { qualify } from '../../db/ident.js';
import { columnDistinct, columnType, indexDefinitionsOnTables, relationOid, tableActivities, tableOwnership } from '../../db/catalog.js';
import { cannotActAs, queryAsRole } from '../../db/owner-rights.js';
import { onShards, shardActivity, shardColumnDistinct } from '../../db/citus.js';
import { dimensionColumns } from '../../db/timescale.js';
import { parseTrusted } from '../../sql/parse.js';
import { nodeAs } from '../../sql/tree.js';
import { rewriteIndexSql } from '../../pack/rewrite.js';
import type { PackObject } from '../../pack/types.js';
import type { Assessment } from '../assess.js';
import { ginDefaultColumns, keyOf, simpleColumns } from './keys.js';
import { columnKey, type IndexKey, type LintFacts, type LintObject } from './types.js';

/** The duplicate probe gives up after this long: the build itself will tell. */
const DUPLICATE_PROBE_MS = 30_000;

const pending = (a: Assessment) => !['applied', 'pre-existing'].includes(a.state);

function lintObject(a: Assessment): LintObject {
  const index = nodeAs(a.object.statement.ast, 'IndexStmt') ?? null;
  const view = nodeAs(a.object.statement.ast, 'CreateTableAsStmt');
  const key = index && a.table ? keyOf(index, a.object.name, qualify(a.table.schema, a.table.name)) : null;
  return { a, index, key, ifNotExists: !!(index?.if_not_exists ?? view?.if_not_exists) };
}

/** Indexes already on these tables, as keys; a definition that does not parse is simply not compared. */
async function existingKeys(c: Session, tables: string[]): Promise<IndexKey[]> {
  const keys: IndexKey[] = [];
  for (const [table, defs] of await indexDefinitionsOnTables(c, tables)) {
    for (const row of defs) {
      try {
        const stmt = nodeAs(parseTrusted(row.def), 'IndexStmt');
        if (stmt) keys.push(keyOf(stmt, row.name, table));
      } catch {
        /* not compared */
      }
    }
  }
  return keys;
}

const isDistributed = (a: Assessment) => onShards(a.table?.topology);

/** Column facts the GIN and low-cardinality rules read. */
async function columnFacts(c: Session, objects: LintObject[], facts: LintFacts): Promise<void> {
  for (const o of objects) {
    if (!o.index || !o.key || !o.a.table) continue;
    if (o.a.object.method === 'gin') {
      for (const col of ginDefaultColumns(o.index)) {
        const t = await columnType(c, o.key.table, col);
        if (t) facts.columnTypes.set(columnKey(o.key.table, col), t);
      }
    }
    const cols = simpleColumns(o.index);
    if (cols?.length === 1 && o.a.object.method === 'btree' && !o.index.whereClause) {
      const nd = isDistributed(o.a)
        ? await shardColumnDistinct(c, o.a.table.oid ?? (await relationOid(c, o.key.table))!, cols[0])
        : await columnDistinct(c, o.a.table.schema, o.a.table.name, cols[0]);
      if (nd !== null) facts.distinct.set(columnKey(o.key.table, cols[0]), nd);
    }
  }
}

/** Read, in one pass, everything any lint rule needs from the database. */
export async function gatherFacts(c: Session, assessments: Assessment[]): Promise<LintFacts> {
  const objects = assessments.map(lintObject);
  const facts: LintFacts = {
    objects,
    existing: [],
    tables: new Map(),
    columnTypes: new Map(),
    distinct: new Map(),
    duplicates: new Map(),
    dimensions: new Map(),
  };
  const tables = [...new Set(objects.filter((o) => o.key).map((o) => o.key!.table))];
  // One read per kind of fact, however many tables the pack touches.
  facts.existing.push(...(await existingKeys(c, tables)));
  const activity = await tableActivities(c, tables);
  for (const t of tables) {
    const stats = activity.get(t);
    const on = objects.find((o) => o.key?.table === t && isDistributed(o.a))?.a.table;
    const held = on?.topology;
    // On Citus the coordinator's copy of a distributed or reference table is empty: its shards count.
    if (stats && held)
      Object.assign(stats, await shardActivity(c, on.oid ?? (await relationOid(c, t))!, held.distribution === 'reference'));
    if (stats) facts.tables.set(t, stats);
  }
  await columnFacts(c, objects, facts);
  for (const o of objects) {
    if (o.key && o.a.table?.hypertable && o.a.table.oid !== null && !facts.dimensions.has(o.key.table))
      facts.dimensions.set(o.key.table, await dimensionColumns(c, o.a.table.oid));
  }
  for (const o of objects) {
    if (!o.index?.unique || !o.key || !pending(o.a)) continue;
    const d = await duplicateKey(c, o.a.object, o.key.table);
    if (d) facts.duplicates.set(o, d);
  }
  return facts;
}

/**
 * A key of a pending UNIQUE index that the table already holds twice, if any. The index is
 * first built on an empty clone of the table (inside a transaction that is rolled back) so the
 * server renders its key expressions and predicate; the duplicate query then reads the real
 * table under that predicate, so a partial index (… WHERE deleted_at IS NULL) only counts the
 * rows it would hold. Reading evaluates the table's index expressions over every row: code its
 * owner wrote, so it runs with the owner's rights, read-only (queryAsRole), never the caller's.
 * A check that fails or takes too long is skipped: the build will tell.
 */
async function duplicateKey(
  c: Session,
  o: PackObject,
  table: string,
): Promise<{ sample: string; count: number } | { unchecked: string } | null> {
  const owner = (await tableOwnership(c, table))?.owner;
  if (!owner) return null;
  const cannot = await cannotActAs(c, owner);
  if (cannot) return { unchecked: `the check reads the table as its owner ${owner}, and pgopt cannot act as that role (${cannot})` };
  return withRolledBackTransaction(c, () => probeDuplicates(c, o, table, owner), { timeoutMs: DUPLICATE_PROBE_MS }).catch(() => null);
}

async function probeDuplicates(c: Session, o: PackObject, table: string, owner: string): Promise<{ sample: string; count: number } | null> {
  await c.query(`CREATE TEMP TABLE pgopt_lint_clone (LIKE ${table})`);
  await asUser(c, () =>
    runOneStatement(
      c,
      rewriteIndexSql(o.statement.sql, { name: 'pgopt_lint_clone_key', relation: 'pg_temp.pgopt_lint_clone', concurrently: false }),
    ),
  );
  const def = await c.query(
    `SELECT array(SELECT pg_get_indexdef(i.indexrelid, k, false) FROM generate_series(1, i.indnkeyatts) k) AS keys,
              pg_get_expr(i.indpred, i.indrelid) AS pred,
              coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS "nullsNotDistinct"
         FROM pg_catalog.pg_index i WHERE i.indexrelid = 'pg_temp.pgopt_lint_clone_key'::regclass`,
  );
  const { keys, pred, nullsNotDistinct } = def.rows[0] as { keys: string[]; pred: string | null; nullsNotDistinct: boolean };
  // By default NULLs never collide in a unique index: rows with a NULL key are left out.
  const filters = [...(pred ? [`(${pred})`] : []), ...(nullsNotDistinct ? [] : keys.map((k) => `(${k}) IS NOT NULL`))];
  const rows = await queryAsRole(
    c,
    owner,
    `SELECT ${keys.map((k, i) => `(${k})::pg_catalog.text AS k${i}`).join(', ')}, count(*)::pg_catalog.int4 AS n FROM ${table} ${filters.length ? `WHERE ${filters.join(' AND ')}` : ''} GROUP BY ${keys.map((_, i) => i + 1).join(', ')} HAVING count(*) > 1 LIMIT 1`,
    [],
    { readOnly: true },
  );
  if (!rows.length) return null;
  const row = rows[0];
  return { sample: keys.map((k, i) => `${k}=${JSON.stringify(row[`k${i}`])}`).join(', '), count: row.n as number };
}
