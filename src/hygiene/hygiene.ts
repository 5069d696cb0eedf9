/**
 * pgopt hygiene: the indexes that cost without paying, and a drop pack for those the evidence
 * lets go. Reads only: the catalog, the statistics counters (the primary's and each standby's)
 * and, with a workload, the planner's estimates with the drops hidden in this session.
 */
import { asUser, type Session } from '../db/session.js';
import { findRelations } from '../db/catalog.js';
import { parseTrusted } from '../sql/parse.js';
import { relationsRead } from '../sql/tree.js';
import type { Workload } from '../bench/workload.js';
import { plannedQueries } from '../advise/hypopg.js';
import { readRows } from '../engine/registry.js';
import {
  averageWidths,
  countersSince,
  indexFacts,
  indexScans,
  leafDensity,
  pgstattupleSchema,
  unindexedForeignKeys,
  type IndexFact,
} from '../db/index-facts.js';
import { bloatFinding, expectedPages, judgeIndexes, keyOf, type Coverage, type Finding, type HygieneRules } from './rules.js';
import { hidingSchema, predictDrops, type PlanChange, type Prediction } from './evidence.js';
import { quoteIdent } from '../db/ident.js';
import { measureDrops, type MeasuredChange, type Measurement } from './measure.js';
import type { BenchOptions } from '../bench/runner.js';

export interface HygieneOptions {
  minAgeSeconds: number;
  /** Standbys: each counts its own index scans. */
  replicas: Session[];
  workload?: Workload;
  timeoutMs: number;
  /** CREATE EXTENSION hypopg where it is not created (the user's consent, as for advise). */
  installHypopg?: boolean;
  /** Bench the workload with the drops really gone, in a transaction rolled back (--measure). */
  measure?: { bench: BenchOptions; lockTimeoutMs: number };
}

/** How the drops could be hidden from the planner: HypoPG 1.4's hypopg_hide_index, or why not. */
export type HidingUse = 'used' | 'installed' | 'absent' | 'not-installed' | 'too-old';

/** What a drop rests on: the planner with the index hidden, the plans as they stand, or nothing yet. */
export type DropEvidence = 'measured' | 'predicted' | 'unproven';

export interface DropProposal {
  index: string;
  schema: string;
  name: string;
  table: string;
  definition: string;
  sizeBytes: number;
  tableWrites: number;
  reasons: Finding[];
  evidence: DropEvidence;
  /** The queries whose plan read it, served as well without it (predicted). */
  switched: PlanChange[];
}

export interface KeptIndex {
  index: string;
  reasons: Finding[];
  /** The workload queries whose plans need it. */
  neededBy: PlanChange[];
  /** The queries bench called slower without it (--measure). */
  slowerWithout: MeasuredChange[];
  /** Other roles' statements (-- run-as) that read its table: never planned with this role's rights, so it stays. */
  otherRoles: string[];
  hidden: boolean;
}

export interface HygieneResult {
  database: string;
  server: string;
  coverage: Coverage & { since: string };
  findings: Finding[];
  drops: DropProposal[];
  /** Proposed by the catalog, taken back by the workload's plans. */
  kept: KeptIndex[];
  /** How the drops were judged against the workload. */
  prediction: 'hidden' | 'plans' | 'none';
  hypopg: HidingUse | null;
  workloadQueries: number;
  /** --measure: slower queries whose plan read no drop (reported, never blamed on one). */
  measured: { unattributed: MeasuredChange[] } | null;
}

async function coverageOf(c: Session, replicas: Session[]): Promise<Coverage & { since: string }> {
  const all = [await countersSince(c), ...(await Promise.all(replicas.map(countersSince)))];
  const latest = all.reduce((m, x) => (x.since > m.since ? x : m));
  const seconds = Math.min(...all.map((x) => (x.now.getTime() - x.since.getTime()) / 1000));
  return { seconds: Math.max(0, seconds), servers: all.length, since: latest.since.toISOString() };
}

async function bloatFindings(c: Session, all: IndexFact[]): Promise<Finding[]> {
  const stattuple = await pgstattupleSchema(c);
  const widths = await averageWidths(c, [...new Set(all.map((ix) => ix.tableOid))]);
  const out: Finding[] = [];
  for (const ix of all.filter((x) => x.valid && x.method === 'btree' && !x.roles.partitioned && x.sizeBytes >= 8 * 1024 * 1024)) {
    const measured = stattuple ? await leafDensity(c, stattuple, ix.oid) : null;
    const f = bloatFinding(ix, measured, measured === null ? expectedPages(ix, widths) : null);
    if (f) out.push(f);
  }
  return out;
}

async function foreignKeyFindings(c: Session): Promise<Finding[]> {
  return (await unindexedForeignKeys(c)).map((fk) => ({
    kind: 'unindexed-foreign-key' as const,
    subject: fk.constraint,
    table: fk.table,
    sizeBytes: fk.tableBytes,
    evidence: `no index leads with (${fk.columns.join(', ')}): each delete or key update on ${fk.parent} scans ${fk.table} (${fk.parentChanges} since the counters started)`,
    twin: null,
    keptBecause: null,
    fix: `CREATE INDEX CONCURRENTLY ON ${fk.table} (${fk.columns.map(quoteIdent).join(', ')})`,
  }));
}

async function ownership(c: Session): Promise<Map<string, string>> {
  const rows = await readRows(c);
  return new Map(rows.filter((r) => r.kind === 'index').map((r) => [`${r.schema}.${r.name}`, r.pack]));
}

export async function inspectIndexes(c: Session, o: HygieneOptions): Promise<HygieneResult> {
  const all = await indexFacts(c);
  const rules: HygieneRules = {
    minAgeSeconds: o.minAgeSeconds,
    ownedBy: await ownership(c),
    replicaScans: await Promise.all(o.replicas.map(indexScans)),
  };
  const coverage = await coverageOf(c, o.replicas);
  const judged = judgeIndexes(all, rules, coverage);
  const findings = [...judged.findings, ...(await bloatFindings(c, all)), ...(await foreignKeyFindings(c))];
  const who = await c.query(`SELECT pg_catalog.current_database() AS d, pg_catalog.current_setting('server_version') AS v`);
  const base = { database: who.rows[0].d as string, server: who.rows[0].v as string, coverage, findings };
  if (!o.workload) {
    const drops = judged.drops.map((ix) => proposal(ix, findings, 'unproven', []));
    return { ...base, drops, kept: [], prediction: 'none', hypopg: null, workloadQueries: 0, measured: null };
  }
  const queries = [...(await plannedQueries(c, o.workload, o.timeoutMs)).values()];
  const otherRoles = await readByOtherRoles(c, o.workload, judged.drops);
  const judgeable = judged.drops.filter((ix) => !otherRoles.has(ix.oid));
  const hypopg = await useHiding(c, !!o.installHypopg);
  const prediction = await predictDrops(c, await hidingSchema(c), judgeable, queries, o.timeoutMs);
  const left = judgeable.filter((ix) => !prediction.vetoed.has(ix.oid));
  const m = o.measure && left.length ? await measureDrops(c, o.workload, left, o.measure.bench, o.measure.lockTimeoutMs) : null;
  const split = splitByEvidence(judged.drops, findings, { prediction, measurement: m, otherRoles });
  const measured = m ? { unattributed: m.unattributed } : null;
  return { ...base, ...split, prediction: prediction.hidden ? 'hidden' : 'plans', hypopg, workloadQueries: queries.length, measured };
}

async function useHiding(c: Session, install: boolean): Promise<HidingUse> {
  if (await hidingSchema(c)) return 'used';
  const res = await c.query(
    `SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'hypopg') AS created,
            EXISTS (SELECT 1 FROM pg_catalog.pg_available_extension_versions WHERE name = 'hypopg' AND string_to_array(version, '.')::int[] >= '{1,4}') AS offered`,
  );
  const { created, offered } = res.rows[0] as { created: string | null; offered: boolean };
  if (created) return 'too-old';
  if (!install) return 'absent';
  if (!offered) return 'not-installed';
  // In the user's schema, as a DBA's CREATE EXTENSION would put it (never pgopt's pinned pg_catalog).
  await asUser(c, () => c.query('CREATE EXTENSION IF NOT EXISTS hypopg'));
  return 'installed';
}

function proposal(ix: IndexFact, findings: Finding[], evidence: DropEvidence, switched: PlanChange[]): DropProposal {
  const reasons = findings.filter((f) => f.subject === keyOf(ix));
  return {
    index: keyOf(ix),
    schema: ix.schema,
    name: ix.name,
    table: ix.table,
    definition: ix.definition,
    sizeBytes: ix.sizeBytes,
    tableWrites: ix.tableWrites,
    reasons,
    evidence,
    switched,
  };
}

interface Evidence {
  prediction: Prediction;
  measurement: Measurement | null;
  otherRoles: Map<number, string[]>;
}

/** The drops every piece of evidence lets go, and those a plan, a measurement or another role's statement keeps. */
function splitByEvidence(drops: IndexFact[], findings: Finding[], e: Evidence): Pick<HygieneResult, 'drops' | 'kept'> {
  const { prediction: p, measurement: m } = e;
  const needed = (ix: IndexFact) => p.vetoed.has(ix.oid) || !!m?.needed.has(ix.oid) || e.otherRoles.has(ix.oid);
  const kept = drops.filter(needed).map((ix) => ({
    index: keyOf(ix),
    reasons: findings.filter((f) => f.subject === keyOf(ix)),
    neededBy: p.vetoed.get(ix.oid) ?? [],
    slowerWithout: m?.needed.get(ix.oid) ?? [],
    otherRoles: e.otherRoles.get(ix.oid) ?? [],
    hidden: p.hidden,
  }));
  const evidence: DropEvidence = m ? 'measured' : 'predicted';
  const left = drops.filter((ix) => !needed(ix)).map((ix) => proposal(ix, findings, evidence, p.switched.get(ix.oid) ?? []));
  return { drops: left, kept };
}

/**
 * Drop (oid) → the other roles' statements (-- run-as) that may read its table. They are not planned
 * with this role's rights (plannedQueries), so nothing here can say they do not need it. A statement
 * that reads a view, or a name that does not resolve, may read any table: it keeps every drop.
 */
async function readByOtherRoles(c: Session, workload: Workload, drops: IndexFact[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const q of workload.queries.filter((x) => x.runAs)) {
    const rels = await findRelations(c, relationsRead(parseTrusted(q.forms[0].sql)));
    const opaque = rels.some((r) => !r || !['r', 'p'].includes(r.relkind));
    const tables = new Set(rels.flatMap((r) => (r ? [r.oid, r.treeRoot] : [])));
    for (const ix of drops.filter((d) => opaque || tables.has(d.tableOid))) out.set(ix.oid, [...(out.get(ix.oid) ?? []), q.name]);
  }
  return out;
}
