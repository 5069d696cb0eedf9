/**
 * A drop pack's drops: indexes the pack removes but did not create. Apply records each index's
 * whole definition before it drops it, concurrently; rollback builds it again from that record,
 * concurrently, and checks the server renders it exactly as before. Where a drop's state is
 * decided: `decideDrop`, pure (test/unit/drops.test.ts).
 */
import { deparseSync } from 'pgsql-deparser';
import type { IndexStmt } from '@pgsql/types';
import { findIndex, tableOwnerships, type IndexInfo } from '../db/catalog.js';
import { indexFactsOf } from '../db/index-facts.js';
import { displayName, qualify, quoteLiteral } from '../db/ident.js';
import { asUser, type Session } from '../db/session.js';
import { PgoptError } from '../errors.js';
import { protection } from '../hygiene/rules.js';
import { rewriteIndexSql } from '../pack/rewrite.js';
import type { Pack, PackDrop } from '../pack/types.js';
import { nodeAs } from '../sql/tree.js';
import { parseTrusted, tryParse } from '../sql/parse.js';
import { buildConcurrently, dropIndexConcurrently } from './build.js';
import { forgetDropped, readDroppedRows, recordDropped, recordDropping, type DroppedRow } from './drop-registry.js';
import { lockPolicy, withLockRetry } from './locks.js';
import { readRows } from './registry.js';
import type { RunOptions } from './run-options.js';
import { failure } from './failure.js';

export const DROP_STATES = ['to-drop', 'dropped', 'absent', 'refused'] as const;
export type DropState = (typeof DROP_STATES)[number];
export type DropAction = 'drop' | 'record' | 'skip' | 'stop';

export interface DropFacts {
  live: Pick<IndexInfo, 'valid'> | null;
  row: Pick<DroppedRow, 'state'> | null;
  /** What the index enforces or belongs to (hygiene's protection rule), when it is there. */
  protectedBy: string | null;
}

export interface DropDecision {
  state: DropState;
  action: DropAction;
  reason: string;
}

/** The one place that decides what a drop pack does with an index. */
export function decideDrop(f: DropFacts): DropDecision {
  if (f.live && f.protectedBy) return { state: 'refused', action: 'stop', reason: `not dropped: ${f.protectedBy}` };
  if (f.live && f.row?.state === 'dropped')
    return {
      state: 'to-drop',
      action: 'drop',
      reason: 'dropped by this pack and present again (built outside pgopt?): apply drops it again',
    };
  if (f.live) return { state: 'to-drop', action: 'drop', reason: f.live.valid ? '' : 'INVALID' };
  if (f.row?.state === 'dropping') return { state: 'dropped', action: 'record', reason: 'dropped by an interrupted run; apply records it' };
  if (f.row) return { state: 'dropped', action: 'skip', reason: 'dropped by this pack; rollback builds it again' };
  return { state: 'absent', action: 'skip', reason: 'not present: nothing to drop, and nothing on record to rebuild' };
}

export interface DropAssessment extends DropDecision {
  drop: PackDrop;
  schema: string;
  name: string;
  qualifiedName: string;
  table: string | null;
  live: IndexInfo | null;
  row: DroppedRow | null;
}

/** An unqualified name is the user's: their search_path finds it, else this pack's record of it, else their current schema. */
async function schemaOf(c: Session, d: PackDrop, rows: DroppedRow[]): Promise<string> {
  if (d.schema) return d.schema;
  const found = await asUser(c, () =>
    c.query(
      `SELECT n.nspname AS found, pg_catalog.current_schema() AS current
         FROM (SELECT pg_catalog.to_regclass(pg_catalog.quote_ident($1)) AS oid) r
         LEFT JOIN pg_catalog.pg_class k ON k.oid = r.oid LEFT JOIN pg_catalog.pg_namespace n ON n.oid = k.relnamespace`,
      [d.name],
    ),
  );
  const { found: live, current } = found.rows[0] as { found: string | null; current: string };
  return live ?? rows.find((r) => r.name === d.name)?.schema ?? current;
}

/** Why this role may not drop it, if so: only its owner (or a member of the owner's role, or a superuser) can. */
async function notOwner(c: Session, table: string): Promise<string | null> {
  const own = (await tableOwnerships(c, [table])).get(table);
  return own && !own.mine ? `its table belongs to ${own.owner}: only that role (or a superuser) can drop it` : null;
}

export async function assessDrops(c: Session, pack: Pack): Promise<DropAssessment[]> {
  if (!pack.drops.length) return [];
  const rows = await readDroppedRows(c, pack.name);
  const owners = new Map((await readRows(c)).filter((r) => r.kind === 'index').map((r) => [`${r.schema}.${r.name}`, r.pack]));
  const out: DropAssessment[] = [];
  for (const d of pack.drops) {
    const schema = await schemaOf(c, d, rows);
    const live = await findIndex(c, schema, d.name);
    const row = rows.find((r) => r.schema === schema && r.name === d.name) ?? null;
    const fact = live ? (await indexFactsOf(c, [live.oid]))[0] : null;
    // Not among the user's indexes (a system schema, pgopt's own registry): never a drop pack's business.
    const protectedBy = fact
      ? (protection(fact, owners) ?? (await notOwner(c, fact.table)))
      : live
        ? "not one of the database's user indexes"
        : null;
    const decision = decideDrop({ live, row, protectedBy });
    const table = fact?.table ?? row?.table ?? null;
    out.push({ ...decision, drop: d, schema, name: d.name, qualifiedName: displayName(schema, d.name), table, live, row });
  }
  return out;
}

/** Record, then drop: the definition is on record before the index is gone, whatever happens between. */
export async function applyDrop(c: Session, pack: string, a: DropAssessment, o: RunOptions): Promise<number> {
  const t0 = performance.now();
  if (a.action === 'record') {
    await recordDropped(c, pack, a.schema, a.name, null);
    return 0;
  }
  const fact = (await indexFactsOf(c, [a.live!.oid]))[0];
  const comment = await c.query(`SELECT pg_catalog.obj_description($1::oid, 'pg_class') AS d`, [a.live!.oid]);
  await recordDropping(c, {
    pack,
    schema: a.schema,
    name: a.name,
    table: fact.table,
    tableOid: fact.tableOid,
    ordinal: a.drop.statement.ordinal,
    definition: fact.definition,
    wasValid: fact.valid,
    tablespace: fact.tablespace,
    comment: (comment.rows[0]?.d as string | null) ?? null,
    sizeBytes: fact.sizeBytes,
  });
  o.onProgress?.({ type: 'step', message: `drop index ${a.qualifiedName}` });
  const what = `dropping index ${a.qualifiedName}`;
  const drop = o.concurrently
    ? () => dropIndexConcurrently(c, a.schema, a.name, o)
    : () =>
        withLockRetry(c, what, [fact.tableOid], lockPolicy(o, what), () => c.query(`DROP INDEX IF EXISTS ${qualify(a.schema, a.name)}`));
  await drop().catch(async (err) => {
    // Still there and valid: nothing was dropped, and the registry says so again. An INVALID
    // remnant (a concurrent drop stopped half-way) keeps its record: rollback rebuilds from it.
    if ((await findIndex(c, a.schema, a.name).catch(() => null))?.valid) await forgetDropped(c, pack, a.schema, a.name).catch(() => {});
    throw failure(err, what, o.signal);
  });
  const ms = Math.round(performance.now() - t0);
  await recordDropped(c, pack, a.schema, a.name, ms);
  return ms;
}

/**
 * The recorded definition as a concurrent build of that one index: refused unless it is exactly
 * one CREATE INDEX of the recorded name on the recorded table (the registry is data, not code).
 */
export function restoreStatement(
  r: Pick<DroppedRow, 'schema' | 'name' | 'table' | 'definition' | 'tablespace'>,
  concurrently: boolean,
): string {
  const trees = tryParse(r.definition);
  const stmt = trees?.length === 1 ? nodeAs(trees[0], 'IndexStmt') : undefined;
  const rel = stmt?.relation;
  const table = rel ? `${rel.schemaname ? `${rel.schemaname}.` : ''}${rel.relname}` : null;
  if (!stmt || stmt.idxname !== r.name || !rel || (rel.schemaname ?? null) !== r.schema || !sameTable(table, r.table)) {
    throw new PgoptError(
      'input',
      `registry row for ${displayName(r.schema, r.name)} was altered: its definition is not one CREATE INDEX of it; nothing was run`,
      {
        hint: 'inspect pgopt.dropped; pgopt never executes SQL read from the database without checking it',
      },
    );
  }
  const sql = rewriteIndexSql(r.definition, { name: r.name, concurrently });
  if (!r.tablespace) return sql;
  const tree = nodeAs(parseTrusted(sql), 'IndexStmt')!;
  return deparseSync({ IndexStmt: { ...tree, tableSpace: r.tablespace } as IndexStmt });
}

/** regclass text (`public.t`, `"App"."Run"`) against the definition's relation as parsed. */
function sameTable(parsed: string | null, recorded: string): boolean {
  if (!parsed) return false;
  const unquoted = recorded.replace(/"/g, '');
  return parsed === unquoted || parsed.endsWith(`.${unquoted}`);
}

export type RestoreOutcome = 'restored' | 'already-back' | 'left-out';

/** Build a dropped index again, check the server renders it as before, then forget the row. */
export async function restoreDropped(c: Session, r: DroppedRow, o: RunOptions): Promise<RestoreOutcome> {
  if (!r.wasValid) {
    await forgetDropped(c, r.pack, r.schema, r.name);
    return 'left-out';
  }
  const live = await findIndex(c, r.schema, r.name);
  if (live?.valid && live.definition === r.definition) {
    await forgetDropped(c, r.pack, r.schema, r.name);
    return 'already-back';
  }
  // A concurrent drop stopped half-way leaves the index INVALID: it goes, and is built again whole.
  if (live && !live.valid && live.definition === r.definition) await dropIndexConcurrently(c, r.schema, r.name, o);
  else if (live)
    throw new PgoptError(
      'check',
      `${displayName(r.schema, r.name)}: an index of that name is there with another definition (${live.definition}); not rebuilding it`,
      {
        hint: 'drop or rename it by hand, then run rollback again; the registry row is kept',
      },
    );
  const sql = restoreStatement(r, o.concurrently);
  o.onProgress?.({ type: 'step', message: `rebuild index ${displayName(r.schema, r.name)}` });
  if (o.concurrently) await buildConcurrently(c, o, sql, r.schema, r.name);
  else
    await withLockRetry(c, `rebuilding ${r.name}`, [r.tableOid ?? 0], lockPolicy(o, `rebuilding ${r.name}`), () =>
      asUser(c, () => c.query(sql)),
    );
  const back = await findIndex(c, r.schema, r.name);
  if (!back?.valid || back.definition !== r.definition)
    throw new PgoptError(
      'check',
      `${displayName(r.schema, r.name)} was rebuilt as ${back?.definition ?? 'nothing'}, not as recorded (${r.definition})`,
    );
  if (r.comment !== null) await c.query(`COMMENT ON INDEX ${qualify(r.schema, r.name)} IS ${quoteLiteral(r.comment)}`);
  await forgetDropped(c, r.pack, r.schema, r.name);
  return 'restored';
}
