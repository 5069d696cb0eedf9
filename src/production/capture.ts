import type { TableFacts, TableLookup } from '../advise/candidates.js';
import { readParams } from '../bench/runner.js';
import { findRelations, relationBlocks, tableColumns } from '../db/catalog.js';
import type { Session } from '../db/session.js';
import { prepareSession } from '../db/session.js';
import { readStatementCounters, statStatementsInfo, type StatementCounters, type StatStatementsInfo } from '../db/stat-statements.js';
import { PgoptError } from '../errors.js';
import { highestParam } from '../sql/tree.js';
import { restoreConstants } from './app-text.js';
import {
  ASSUMED,
  chooseStatements,
  loggedValues,
  type LoggedValues,
  PARAM_SETS,
  paramsQuery,
  queryName,
  valuesQuery,
  type CaptureOptions,
  type Chosen,
  type LeftOutReason,
} from './capture-rules.js';
import { paramSources, type ParamSource } from './param-sources.js';
import { qualstatsSchema, readQualConstants, type QualConstant } from '../db/qualstats.js';
import { genericPlan } from '../db/generic-plan.js';
import { qualstatsValueSets } from './qualstats-values.js';

export interface CapturedQuery {
  name: string;
  kind: 'read' | 'write';
  counters: StatementCounters;
  /** Share of the total execution time of every statement of this database. */
  share: number;
  /** Calls per hour over the time the counters cover. */
  callsPerHour: number;
  sources: ParamSource[];
  /** The `-- params:` query, null where the statement has no $n. */
  params: string | null;
  /**
   * The statement as the application wrote it, where the server log showed which of
   * pg_stat_statements' $n were its own constants (restoreConstants); else the normalized text is written.
   */
  text?: string;
  /** Why the params were not tried before writing them (row security another role's code decides). */
  unchecked: string | null;
  /**
   * No source explains some $n: written with `-- values-from: none` and production's mean, for advise
   * to judge by the generic plan (bench does not run it).
   */
  planOnly?: boolean;
}

export interface CaptureResult {
  extension: StatStatementsInfo;
  database: string;
  currentUser: string;
  /** Hours the counters cover: since their reset (or the server's start). */
  hours: number;
  totalMs: number;
  queries: CapturedQuery[];
  left: { reason: LeftOutReason; count: number; examples: string[] }[];
  /** pg_qualstats in this database: the constants it gave, or why it could not be read. Null where it is not created. */
  qualstats: { schema: string; constants: number } | { unreadable: string } | null;
}

/** Read pg_stat_statements, choose, and find real values for each statement's $n. Reads only. */
export async function captureWorkload(c: Session, o: CaptureOptions, timeoutMs: number): Promise<CaptureResult> {
  await prepareSession(c);
  const extension = await statStatementsInfo(c);
  if (!extension) {
    throw new PgoptError('database', 'pg_stat_statements is not installed in this database: there is nothing to capture', {
      hint: 'as a superuser: add pg_stat_statements to shared_preload_libraries, restart, then CREATE EXTENSION pg_stat_statements; let the application run a while',
    });
  }
  const all = await readStatementCounters(c, extension);
  const { chosen, left } = chooseStatements(all, o);
  const lookup = await tableLookup(c, chosen);
  const qualstats = await qualConstants(c, chosen);
  const now = Date.now();
  const totalMs = all.reduce((s, x) => s + x.totalMs, 0);
  const queries: CapturedQuery[] = [];
  const who = (await c.query('SELECT pg_catalog.current_database() AS d, current_user AS u')).rows[0];
  for (const ch of chosen) {
    const constants = qualstats.byQuery.get(ch.counters.queryid) ?? [];
    const q = await captureOne(c, ch, lookup, { ...o, constants, currentUser: who.u }, timeoutMs);
    if (!q) {
      left.set('no-values', [...(left.get('no-values') ?? []), ch.counters]);
      continue;
    }
    const since = (ch.counters.since ?? extension.since).getTime();
    queries.push({
      ...q,
      share: totalMs ? ch.counters.totalMs / totalMs : 0,
      callsPerHour: ch.counters.calls / Math.max(1 / 60, (now - since) / 3.6e6),
    });
  }
  return {
    extension,
    database: who.d,
    currentUser: who.u,
    hours: (now - extension.since.getTime()) / 3.6e6,
    totalMs,
    queries,
    left: [...left].map(([reason, xs]) => ({ reason, count: xs.length, examples: xs.slice(0, 3).map((x) => x.query.slice(0, 80)) })),
    qualstats: qualstats.summary,
  };
}

/**
 * pg_qualstats' constants for the chosen statements, by queryid. A pg_qualstats that is created
 * but not preloaded, or that this role may not call, is said, never fatal: the data still gives values.
 */
async function qualConstants(
  c: Session,
  chosen: Chosen[],
): Promise<{ byQuery: Map<string, QualConstant[]>; summary: CaptureResult['qualstats'] }> {
  const byQuery = new Map<string, QualConstant[]>();
  const schema = await qualstatsSchema(c);
  if (!schema || !chosen.length) return { byQuery, summary: schema ? { schema, constants: 0 } : null };
  let rows: QualConstant[];
  try {
    rows = await readQualConstants(
      c,
      schema,
      chosen.map((ch) => ch.counters.queryid),
    );
  } catch (err) {
    return { byQuery, summary: { unreadable: (err as Error).message.split('\n')[0] } };
  }
  for (const r of rows) byQuery.set(r.queryid, [...(byQuery.get(r.queryid) ?? []), r]);
  return { byQuery, summary: { schema, constants: rows.length } };
}

type Captured = Omit<CapturedQuery, 'share' | 'callsPerHour'>;

/**
 * Values for one statement's $n, best first: the sets the server logged (whole executions, as the
 * user asked with --log), then pg_qualstats' constants (production's own values, each predicate's
 * apart), then values drawn from the columns they are compared with.
 */
async function captureOne(
  c: Session,
  ch: Chosen,
  lookup: Lookup,
  o: CaptureOptions & { constants: QualConstant[]; currentUser: string },
  timeoutMs: number,
): Promise<Captured | null> {
  const count = highestParam(ch.tree);
  const fromLog = count && o.logged ? loggedValues(ch, o.logged, count) : null;
  const logged = fromLog?.sets.length ? fromServerLog(ch, fromLog) : null;
  if (logged) return logged;
  const sources = paramSources(ch.tree, count, lookup.find);
  const fromQualstats = count ? qualstatsValueSets(ch.counters.query, sources, o.constants, { sets: PARAM_SETS, assumed: ASSUMED }) : null;
  if (fromQualstats) {
    const values = (n: number) => new Set(fromQualstats.map((set) => set[n])).size;
    const kept = sources.map((s, n): ParamSource =>
      s.kind === 'limit' || s.kind === 'offset' ? s : { kind: 'qualstats', values: values(n) },
    );
    return {
      name: queryName(ch),
      kind: ch.kind,
      counters: ch.counters,
      sources: kept,
      params: valuesQuery(fromQualstats),
      unchecked: null,
    };
  }
  const params = count ? paramsQuery(sources, (t) => lookup.blocks.get(`${t.schema}.${t.name}`) ?? 0) : null;
  if (count && !params) return planOnly(c, ch, sources, o.currentUser, timeoutMs);
  const base = { name: queryName(ch), kind: ch.kind, counters: ch.counters, sources, params };
  if (!params) return { ...base, unchecked: null };
  const tables = [...new Set(sources.flatMap((s) => (s.kind === 'column' ? [`${s.table.schema}.${s.table.name}`] : [])))];
  if (
    await rowSecurityDecides(
      c,
      tables.map((t) => lookup.oids.get(t)!),
    )
  ) {
    return { ...base, unchecked: 'row security decides what this role reads there: the values were not tried' };
  }
  const rows = await readParams(c, params, timeoutMs).catch(() => null);
  return rows && rows.rows.length ? { ...base, unchecked: null } : null;
}

/**
 * Logged executions: the application's own text where the log gives it back, and its bind values.
 * Null where a squashed IN list did not go back into the text (no bind value can stand for it).
 */
function fromServerLog(ch: Chosen, logged: LoggedValues): Captured | null {
  const app = restoreConstants(ch.counters.query, ch.tree, logged.constants);
  if ([...logged.squashed].some((n) => !app || app.kept.includes(n))) return null;
  const sets = app
    ? [...new Map(logged.sets.map((set) => app.kept.map((n) => set[n - 1])).map((v) => [JSON.stringify(v), v])).values()]
    : logged.sets;
  const count = app ? app.kept.length : highestParam(ch.tree);
  const sources: ParamSource[] = Array.from({ length: count }, () => ({ kind: 'log', sets: sets.length }));
  const base = { name: queryName(ch), kind: ch.kind, counters: ch.counters, sources, unchecked: null };
  return { ...base, params: count ? valuesQuery(sets) : null, ...(app ? { text: app.sql } : {}) };
}

/**
 * A statement no source of values explains, kept for advise to judge by its generic plan: only
 * this role's own (planning another role's statement as this one could run that role's functions
 * with this role's rights), and only where the plan can be made.
 */
async function planOnly(c: Session, ch: Chosen, sources: ParamSource[], currentUser: string, timeoutMs: number): Promise<Captured | null> {
  if (ch.counters.role !== currentUser) return null;
  const plan = await genericPlan(c, ch.counters.query, highestParam(ch.tree), timeoutMs).catch(() => null);
  if (!plan) return null;
  return { name: queryName(ch), kind: ch.kind, counters: ch.counters, sources, params: null, unchecked: null, planOnly: true };
}

interface Lookup {
  find: TableLookup;
  /** Each table's size in blocks: what its sample reads is bounded by it. */
  blocks: Map<string, number>;
  oids: Map<string, number>;
}

/** The tables the chosen statements name, resolved as the user's session would, with their columns. */
async function tableLookup(c: Session, chosen: Chosen[]): Promise<Lookup> {
  const refs = [...new Map(chosen.flatMap((ch) => ch.relations).map((r) => [`${r.schema ?? ''}.${r.name}`, r])).values()];
  const found = await findRelations(c, refs);
  const byRef = new Map<string, TableFacts>();
  const oids = new Map<string, number>();
  for (const [i, rel] of found.entries()) {
    if (!rel || !['r', 'p', 'm'].includes(rel.relkind)) continue;
    const facts = { schema: rel.schema, name: rel.name, columns: await tableColumns(c, rel.oid) };
    byRef.set(`${refs[i].schema ?? ''}.${refs[i].name}`, facts);
    oids.set(`${rel.schema}.${rel.name}`, rel.oid);
  }
  const sizes = await relationBlocks(c, [...oids.values()]);
  const blocks = new Map([...oids].map(([table, oid]) => [table, sizes.get(oid) ?? 0]));
  return { find: (schema, name) => byRef.get(`${schema ?? ''}.${name}`), blocks, oids };
}

/**
 * Reading these tables would run row-security policies (code their owner wrote) with this role's
 * rights: only where this role neither bypasses row security nor owns every table.
 */
async function rowSecurityDecides(c: Session, oids: number[]): Promise<boolean> {
  const r = await c.query(
    `SELECT pg_catalog.bool_or(c.relrowsecurity AND (c.relforcerowsecurity OR c.relowner <> r.oid)) AND NOT (r.rolsuper OR r.rolbypassrls) AS decides
       FROM pg_catalog.pg_class c, pg_catalog.pg_roles r WHERE c.oid = ANY ($1::oid[]) AND r.rolname = current_user
      GROUP BY r.rolsuper, r.rolbypassrls`,
    [oids],
  );
  return r.rows[0]?.decides ?? false;
}
