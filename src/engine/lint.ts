import type pg from 'pg';
import { asUser, runOneStatement } from '../db/session.js';
import { parseSync } from 'libpg-query';
import type { SourceLocation } from '../errors.js';
import { qualify } from '../db/scoped.js';
import { stripLayout } from '../pack/ast.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import type { Pack, PackObject } from '../pack/types.js';
import { assessPack, type Assessment } from './assess.js';

export const LINT_RULES = [
  'not-concurrent',
  'missing-if-not-exists',
  'unique-duplicates',
  'matview-no-unique-index',
  'redundant-index',
  'gin-jsonb-ops',
  'low-cardinality',
  'write-heavy-table',
] as const;
export type LintRule = (typeof LINT_RULES)[number];

export interface LintFinding {
  rule: LintRule;
  severity: 'error' | 'warning';
  location: SourceLocation;
  object: string;
  message: string;
  hint: string;
}

export interface LintResult {
  pack: string;
  findings: LintFinding[];
}

/** An index as lint compares it: method, key columns (parse trees), predicate. */
interface IndexKey {
  name: string;
  table: string;
  method: string;
  cols: string[];
  where: string;
  unique: boolean;
}

const keyOf = (stmt: Record<string, any>, name: string, table: string): IndexKey => ({
  name,
  table,
  method: stmt.accessMethod ?? 'btree',
  cols: (stmt.indexParams ?? []).map((p: any) => JSON.stringify(stripLayout(p))),
  where: JSON.stringify(stripLayout(stmt.whereClause ?? null)),
  unique: !!stmt.unique,
});

const isPrefix = (a: IndexKey, b: IndexKey) =>
  a !== b && a.table === b.table && a.method === 'btree' && b.method === 'btree' && a.where === b.where && !a.unique &&
  a.cols.length <= b.cols.length && a.cols.every((c, i) => c === b.cols[i]);

const stmtOf = (o: PackObject) => (o.statement.ast as any).IndexStmt as Record<string, any>;
const simpleColumns = (s: Record<string, any>): string[] | null => {
  const cols = (s.indexParams ?? []).map((p: any) => p.IndexElem.name as string | undefined);
  return cols.every(Boolean) ? (cols as string[]) : null;
};

/**
 * Rules in the spirit of squawk, decided from the parse tree and the catalog. Errors mean
 * apply would fail or do harm; warnings are costs a DBA should know about.
 */
export async function lintPack(c: pg.Client, pack: Pack, assessed?: Assessment[]): Promise<LintResult> {
  const assessments = assessed ?? (await assessPack(c, pack)).assessments;
  const findings: LintFinding[] = [];
  const add = (a: Assessment, rule: LintRule, severity: 'error' | 'warning', message: string, hint: string) =>
    findings.push({ rule, severity, location: a.object.statement.location, object: a.qualifiedName, message, hint });
  const pending = (a: Assessment) => !['applied', 'pre-existing'].includes(a.state);

  // Indexes already in the database, for redundancy: parse trees of their definitions.
  const tables = [...new Set(assessments.filter((a) => a.table).map((a) => qualify(a.table!.schema, a.table!.name)))];
  const existing: IndexKey[] = [];
  const tableStats = new Map<string, { rows: number; writes: number; reads: number; indexes: number }>();
  for (const t of tables) {
    const r = await c.query(
      `SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = to_regclass($1)`,
      [t],
    );
    for (const row of r.rows) {
      try {
        existing.push(keyOf((parseSync(row.def) as any).stmts[0].stmt.IndexStmt, row.name, t));
      } catch {
        /* a definition we cannot parse is simply not compared */
      }
    }
    const s = await c.query(
      `SELECT greatest(c.reltuples, 0)::float8 AS rows, coalesce(st.n_tup_ins + st.n_tup_upd + st.n_tup_del, 0)::float8 AS writes,
              coalesce(st.seq_scan + coalesce(st.idx_scan, 0), 0)::float8 AS reads,
              (SELECT count(*) FROM pg_index WHERE indrelid = c.oid)::int AS indexes
         FROM pg_class c LEFT JOIN pg_stat_user_tables st ON st.relid = c.oid WHERE c.oid = to_regclass($1)`,
      [t],
    );
    if (s.rows[0]) tableStats.set(t, s.rows[0]);
  }
  const packKeys = new Map<Assessment, IndexKey>();
  for (const a of assessments) if (a.table) packKeys.set(a, keyOf(stmtOf(a.object), a.object.name, qualify(a.table.schema, a.table.name)));

  for (const a of assessments) {
    const o = a.object;
    const ast = Object.values(o.statement.ast)[0] as Record<string, any>;
    if (!ast.if_not_exists && !(o.kind === 'matview' && ast.if_not_exists)) {
      add(a, 'missing-if-not-exists', 'warning', `${o.kind === 'index' ? 'CREATE INDEX' : 'CREATE MATERIALIZED VIEW'} without IF NOT EXISTS`,
        'add IF NOT EXISTS so the file is also safe to re-run with psql (pgopt itself only builds what is missing)');
    }
    if (o.kind === 'matview') {
      const hasUnique = assessments.some((b) => b.table?.name === o.name && b.table?.schema === a.schema && stmtOf(b.object).unique && !stmtOf(b.object).whereClause && simpleColumns(stmtOf(b.object)));
      if (!hasUnique) {
        add(a, 'matview-no-unique-index', 'warning', 'materialized view without a unique index on plain columns: it cannot be refreshed CONCURRENTLY, and a plain refresh blocks its readers',
          'add CREATE UNIQUE INDEX … ON the view (its grouping columns) after it');
      }
      continue;
    }
    const s = stmtOf(o);
    const key = packKeys.get(a)!;
    const stats = tableStats.get(key.table);
    if (!o.writtenConcurrently && stats && stats.rows > 0) {
      add(a, 'not-concurrent', 'warning', `CREATE INDEX without CONCURRENTLY on ${key.table} (${Math.round(stats.rows).toLocaleString('en-US')} rows): run by psql it would block writes for the whole build`,
        'write CONCURRENTLY; pgopt apply builds it concurrently either way');
    }
    for (const other of [...existing.filter((e) => e.name !== o.name), ...[...packKeys.entries()].filter(([b]) => b !== a).map(([, k]) => k)]) {
      if (isPrefix(key, other)) {
        add(a, 'redundant-index', 'warning', `its columns are a prefix of ${other.name} on the same table: that index already serves its queries`,
          `drop this index from the pack, or keep only ${other.name}`);
        break;
      }
    }
    if (o.method === 'gin') {
      for (const p of s.indexParams ?? []) {
        const el = p.IndexElem;
        if (!el.name || el.opclass?.length) continue;
        const t = await c.query(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2`, [key.table, el.name]);
        if (t.rows[0]?.t === 'jsonb') {
          add(a, 'gin-jsonb-ops', 'warning', `GIN on ${el.name} with the default jsonb_ops: it also indexes every key for ?, ?| and ?&`,
            'if only containment (@>) is queried, use jsonb_path_ops: smaller and faster');
        }
      }
    }
    const cols = simpleColumns(s);
    if (cols && o.method === 'btree' && !s.whereClause && cols.length === 1 && a.table) {
      const st = await c.query(`SELECT n_distinct::float8 AS n FROM pg_stats WHERE schemaname = $1 AND tablename = $2 AND attname = $3`, [a.table.schema, a.table.name, cols[0]]);
      const nd = st.rows[0]?.n;
      if (nd !== undefined && nd > 0 && nd <= 10 && (stats?.rows ?? 0) > 10_000) {
        add(a, 'low-cardinality', 'warning', `${cols[0]} has about ${Math.round(nd)} distinct values: a plain index on it is large and rarely chosen`,
          `index only the rare values with a partial predicate (… WHERE ${cols[0]} IN (…)), or lead with a selective column`);
      }
    }
    const onTable = new Set([...existing.filter((e) => e.table === key.table).map((e) => e.name), ...[...packKeys.values()].filter((k) => k.table === key.table).map((k) => k.name)]);
    const firstOnTable = [...packKeys.entries()].find(([, k]) => k.table === key.table)?.[0] === a;
    if (firstOnTable && stats && stats.writes > stats.reads && onTable.size >= WRITE_HEAVY_INDEXES) {
      add(a, 'write-heavy-table', 'warning', `${a.table!.schema}.${a.table!.name} takes more writes than reads and will carry ${onTable.size} indexes: each one slows every insert and update`,
        'measure the write cost (pgopt bench before/after) and keep only indexes a query needs');
    }
    if (s.unique && pending(a) && a.table) {
      const d = await duplicateKey(c, o, key.table);
      if (d) {
        add(a, 'unique-duplicates', 'error', `UNIQUE index over data with duplicates (e.g. ${d.sample} appears ${d.count} times): the build would fail`,
          'remove the duplicates first, or drop UNIQUE');
      }
    }
  }
  findings.sort((x, y) => (x.location.file === y.location.file ? x.location.line - y.location.line : x.location.file < y.location.file ? -1 : 1));
  return { pack: pack.name, findings };
}

/** From this many indexes on a write-heavy table, the write cost deserves a look. */
const WRITE_HEAVY_INDEXES = 8;


/**
 * A key of a pending UNIQUE index that the table already holds twice, if any. The index is
 * first built on an empty clone of the table (inside a transaction that is rolled back) so the
 * server renders its key expressions and predicate; the duplicate query then reads the real
 * table under that predicate, so a partial index (… WHERE deleted_at IS NULL) only counts the
 * rows it would hold. A check that fails or takes too long is skipped: the build will tell.
 */
async function duplicateKey(c: pg.Client, o: PackObject, table: string): Promise<{ sample: string; count: number } | null> {
  try {
    await c.query('BEGIN');
    await c.query(`SET LOCAL statement_timeout = '30s'`);
    await c.query(`CREATE TEMP TABLE pgopt_lint_clone (LIKE ${table})`);
    await asUser(c, () => runOneStatement(c, rewriteIndexSql(o.statement.sql, { name: 'pgopt_lint_clone_key', relation: 'pg_temp.pgopt_lint_clone', concurrently: false })));
    const def = await c.query(
      `SELECT array(SELECT pg_get_indexdef(i.indexrelid, k, false) FROM generate_series(1, i.indnkeyatts) k) AS keys,
              pg_get_expr(i.indpred, i.indrelid) AS pred,
              coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS "nullsNotDistinct"
         FROM pg_index i WHERE i.indexrelid = 'pg_temp.pgopt_lint_clone_key'::regclass`,
    );
    const { keys, pred, nullsNotDistinct } = def.rows[0] as { keys: string[]; pred: string | null; nullsNotDistinct: boolean };
    // By default NULLs never collide in a unique index: rows with a NULL key are left out.
    const filters = [...(pred ? [`(${pred})`] : []), ...(nullsNotDistinct ? [] : keys.map((k) => `(${k}) IS NOT NULL`))];
    const d = await c.query({
      text: `SELECT ${keys.map((k) => `(${k})::text`).join(', ')}, count(*)::int FROM ${table} ${filters.length ? `WHERE ${filters.join(' AND ')}` : ''} GROUP BY ${keys.map((_, i) => i + 1).join(', ')} HAVING count(*) > 1 LIMIT 1`,
      rowMode: 'array',
    });
    if (!d.rows.length) return null;
    const row = d.rows[0] as unknown[];
    return { sample: keys.map((k, i) => `${k}=${JSON.stringify(row[i])}`).join(', '), count: row[keys.length] as number };
  } catch {
    return null;
  } finally {
    await c.query('ROLLBACK').catch(() => {});
  }
}
