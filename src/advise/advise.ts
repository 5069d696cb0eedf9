/**
 * `pgopt advise`: from a workload to a proven pack. Candidates come from the queries' parse
 * trees, HypoPG screens them where it is installed, the survivors are built for real (pgopt's
 * own concurrent engine, under a registry pack of their own), the affected queries are measured
 * before and after with bench's verdict rule, and only indexes that made a query significantly
 * faster are kept. The trial indexes are always dropped again: advise leaves the database as it
 * found it (but for the fresher statistics of a table a trial build analyzed), and a run killed
 * half-way is cleaned up by the next.
 */
import { usesIndex } from '../bench/plan-summary.js';
import { randomBytes } from 'node:crypto';
import type { Node } from '@pgsql/types';
import { compareRuns, type QueryComparison } from '../bench/compare.js';
import { refusedQueries, runBench, type BenchOptions, type BenchResult, type RefusedQuery } from '../bench/runner.js';
import type { Workload, WorkloadQuery } from '../bench/workload.js';
import { genericPlan, type GenericPlan } from '../db/generic-plan.js';
import { estimatedEffect } from './generic-plan.js';
import { writeProbes } from '../bench/writes.js';
import { columnStatistics, findIndex, findRelation, viewDefinition, hypopgAvailable, hypopgSchema, tableColumns } from '../db/catalog.js';
import { asUser, prepareSession, requireWritable, type Session } from '../db/session.js';
import { asPgoptError, PgoptError } from '../errors.js';
import { translatePgError } from '../db/pg-errors.js';
import { applyPack } from '../engine/apply.js';
import { failure } from '../engine/failure.js';
import { readRows } from '../engine/registry.js';
import { rollbackPack } from '../engine/rollback.js';
import type { RunOptions } from '../engine/run-options.js';
import { parseTrusted } from '../sql/parse.js';
import { nodeAs, payloadOf, rangeVarRef, relationsRead } from '../sql/tree.js';
import { inlineProjections, type ViewDefinitions } from './inline.js';
import type { RangeVar } from '@pgsql/types';
import {
  BRIN_CORRELATION,
  candidatesForQuery,
  FEW_VALUES,
  mergeCandidates,
  type DatabaseFacts,
  type TableFacts,
  type TableLookup,
} from './candidates.js';
import { plannedQueries, predictedGain, screenWithHypopg } from './hypopg.js';
import { candidateName, candidateSql } from './index-sql.js';
import { selectTrials, variantPays, variantShortfall, type Budget, type Trial } from './select.js';
import { undecidedQueries, withSecondWindow } from './second-window.js';
import { markCovered, TRIAL_PREFIX, trialPack, trialRunKey, validateTrials } from './trial-pack.js';
import { holdRunKey, releaseRunKey, runKeyHeld } from '../db/run-lock.js';
import { measureViews, viewTrials, type ViewTrial } from './view-trials.js';
import { isTrigram, packNeedsTrigram, releaseTrigram, removeOrphanedTrigram, useTrigram, type TrigramUse } from './trigram.js';

export interface AdviseOptions extends RunOptions, Budget {
  bench: BenchOptions;
  /** List candidates (and HypoPG's estimates) without building anything. */
  dryRun: boolean;
  /** CREATE EXTENSION IF NOT EXISTS hypopg: only with the user's consent (--install-hypopg). */
  installHypopg: boolean;
  /** CREATE EXTENSION IF NOT EXISTS pg_trgm for a pattern query, removed again when unused (--install-extension pg_trgm). */
  installTrigram?: boolean;
  /** At most this many real trial builds (HypoPG's best first; without it, the smallest first). */
  maxTrials: number;
}

export type HypopgUse = 'used' | 'installed' | 'absent' | 'not-installed';

/**
 * A write on a table the trials index, before and with every first-round trial index built: an
 * insert or update probe, or one of the workload's own writes (a captured workload's, with how
 * often production runs it).
 */
export interface WriteCost {
  /** `insert:schema.table` or `update:schema.table` (bench --writes' probes), or the workload query's name. */
  probe: string;
  table: string;
  beforeMs: number;
  afterMs: number;
  /** First-round trial indexes on the table while it was measured. */
  indexes: number;
  /** A write of the workload itself (`production`), or a generated probe. */
  source: 'probe' | 'production';
  /** How often production runs it (`-- calls-per-hour:`), for the workload's own writes. */
  callsPerHour?: number;
}

export interface AdviceResult {
  workload: string;
  /** Write cost of the trial indexes, per table (bench --writes' probes, rolled back). */
  writes: WriteCost[];
  /** Probes that could not be measured safely on a table, and why. */
  writesSkipped: string[];
  /** The tables the write probes wrote (each in a transaction rolled back), and the owner each ran as. */
  writesRan: { table: string; owner: string }[];
  trialPack: string;
  hypopg: HypopgUse;
  /** pg_trgm, for the pattern queries (see TrigramUse). */
  trigram: TrigramUse;
  trials: Trial[];
  /** Workload queries the server refused as they stand (left out; the run went on without them). */
  refused: RefusedQuery[];
  /**
   * Tables the trial builds analyzed (an expression index needs statistics on its expression, a table
   * never analyzed has none): the one change advise leaves, its planner statistics are fresher.
   */
  analyzed: string[];
  /** A materialized view per aggregate query (or why there is none), measured like the indexes. */
  views: ViewTrial[];
  /** Trial packs of earlier runs (killed half-way) this run rolled back first, and pg_trgm if such a run installed it. */
  cleanedUp: string[];
  error?: PgoptError;
}

/** The tables the workload reads, with their columns: what candidates resolve names against. */
async function tableLookup(c: Session, trees: Node[]): Promise<TableLookup> {
  const known = new Map<string, TableFacts | undefined>();
  for (const ref of trees.flatMap((t) => relationsRead(t))) {
    const key = `${ref.schema ?? ''}.${ref.name}`;
    if (known.has(key)) continue;
    const rel = await findRelation(c, ref.schema, ref.name);
    const usable = rel && ['r', 'p', 'm'].includes(rel.relkind);
    if (!usable) {
      known.set(key, undefined);
      continue;
    }
    const columns = await tableColumns(c, rel.oid);
    known.set(key, { schema: rel.schema, name: rel.name, columns, ...(await columnStatistics(c, rel.oid, FEW_VALUES, BRIN_CORRELATION)) });
  }
  return (schema, name) => known.get(`${schema ?? ''}.${name}`);
}

function parsedQueries(workload: Workload, views: ViewDefinitions = new Map()): { name: string; tree: Node }[] {
  return workload.queries.map((q) => ({ name: q.name, tree: inlineProjections(parseTrusted(q.forms[0].sql), views) }));
}

/** The views the workload reads, by the name each query uses, as parse trees: what inlineProjections folds. */
async function viewsRead(c: Session, workload: Workload): Promise<ViewDefinitions> {
  const out: ViewDefinitions = new Map();
  for (const ref of parsedQueries(workload).flatMap((q) => relationsRead(q.tree))) {
    const rel = await findRelation(c, ref.schema, ref.name);
    if (rel?.relkind !== 'v') continue;
    const def = nodeAs(parseTrusted(await viewDefinition(c, rel.oid)), 'SelectStmt');
    if (def) out.set(`${ref.schema ?? ''}.${ref.name}`, def);
  }
  return out;
}

/** Roll back the trial packs a killed run left in the registry; a live run's (another advise at work) stay. */
async function cleanLeftovers(c: Session, o: AdviseOptions): Promise<string[]> {
  const packs = [...new Set((await readRows(c)).map((r) => r.pack))].filter((p) => trialRunKey(p) !== null);
  const gone: string[] = [];
  for (const p of packs) if (!(await runKeyHeld(c, trialRunKey(p)!))) gone.push(p);
  for (const p of gone) {
    const r = await rollbackPack(c, p, o);
    if (r.error) throw r.error;
  }
  // After the packs: a trigram trial index of the killed run would keep its extension in place.
  const alive = async (run: string) => trialRunKey(run) !== null && (await runKeyHeld(c, trialRunKey(run)!));
  if (await removeOrphanedTrigram(c, alive)) gone.push('the extension pg_trgm it installed');
  return gone;
}

async function useHypopg(c: Session, o: AdviseOptions): Promise<HypopgUse> {
  if (await hypopgSchema(c)) return 'used';
  if (!o.installHypopg || !(await hypopgAvailable(c))) return o.installHypopg ? 'not-installed' : 'absent';
  // In the user's schema, as a DBA's CREATE EXTENSION would put it (never pgopt's pinned pg_catalog).
  await asUser(c, () => c.query('CREATE EXTENSION IF NOT EXISTS hypopg'));
  return 'installed';
}

/**
 * The first round's builds: HypoPG's best first, else the smallest (fewest keys). Covering
 * variants (INCLUDE) wait for the second round: they must beat their plain sibling.
 */
function chooseTrials(trials: Trial[], o: AdviseOptions, screened: boolean): Trial[] {
  const open = trials.filter((t) => t.outcome === 'not-tried' && !roundTwo(t));
  const size = (t: Trial) => t.candidate.keys.length + (t.candidate.where ? 0 : 0.5);
  const ranked = screened
    ? open.sort((a, b) => (b.predicted ? predictedGain(b) : 0.5) - (a.predicted ? predictedGain(a) : 0.5))
    : open.sort((a, b) => size(a) - size(b));
  for (const t of ranked.slice(o.maxTrials))
    Object.assign(t, { outcome: 'screened-out', reason: `beyond the ${o.maxTrials} trial builds` });
  return ranked.slice(0, o.maxTrials);
}

/** Announce a step; stop between steps once the user has interrupted (the trials are dropped after). */
function step(o: AdviseOptions, message: string): void {
  if (o.signal?.aborted) throw new PgoptError('interrupted', `advise: interrupted before ${message}`);
  o.onProgress?.({ type: 'step', message });
}

/** Bench the named queries, as the database is now. */
function benchQueries(c: Session, workload: Workload, names: Set<string>, o: AdviseOptions): Promise<BenchResult> {
  return runBench(c, { ...workload, queries: workload.queries.filter((q) => names.has(q.name)) }, { ...o.bench, onProgress: o.onProgress });
}

const servedBy = (trials: Trial[]) => new Set(trials.flatMap((t) => t.candidate.queries));

/** What each query whose plan read `t` measured, and which other trial indexes that plan read with it. */
function recordEffects(t: Trial, after: BenchResult, comparisons: QueryComparison[], built: Trial[]): void {
  t.effects = after.queries
    .filter((q) => usesIndex(q.plan, t.name))
    .map((q) => {
      const cmp = comparisons.find((x) => x.name === q.name)!;
      const others = built.filter((o) => o !== t && usesIndex(q.plan, o.name)).map((o) => o.name);
      return {
        query: q.name,
        beforeMs: cmp.before?.median ?? NaN,
        afterMs: cmp.after?.median ?? NaN,
        verdict: cmp.verdict,
        speedup: cmp.speedup,
        reason: cmp.reason,
        ...(q.callsPerHour !== undefined ? { callsPerHour: q.callsPerHour } : {}),
        ...(others.length ? { with: others } : {}),
      };
    });
}

/** Build a round's trials (earlier rounds' stay), measure, and record what each did against `before`. */
async function buildAndMeasure(
  c: Session,
  workload: Workload,
  all: Trial[],
  round: Trial[],
  before: BenchResult,
  result: AdviceResult,
  o: AdviseOptions,
  alsoMeasure: string[] = [],
) {
  step(o, `building ${round.length} trial index(es) concurrently`);
  const built = await applyPack(c, await trialPack(all, result.trialPack), { ...o, analyze: true, replaceChanged: false, quietLint: true });
  if (built.error) throw built.error;
  result.analyzed = [...new Set([...result.analyzed, ...built.analyzed])];
  step(o, 'measuring the same queries with the trial indexes');
  const first = await benchQueries(c, workload, new Set([...servedBy(round), ...alsoMeasure]), o);
  // A window the machine disturbed would otherwise cost a real win its place (no verdict, no keep).
  const { final: after, comparison } = await measureAgainIfInconclusive(c, workload, before, first, o);
  for (const t of round) {
    t.sizeBytes = (await findIndex(c, t.candidate.table.schema, t.name))?.sizeBytes ?? null;
    recordEffects(t, after, comparison.queries, all);
  }
  return after;
}

/** Tried in round two, against a round-one index it adds to: a covering variant, or one with ORDER BY keys (widens). */
const roundTwo = (t: Trial) => t.candidate.include.length > 0 || !!t.candidate.widens;

/** Whether `plain` is the round-one index that `variant` adds INCLUDE columns or ORDER BY keys to. */
const addsTo = (variant: Trial, plain: Trial) =>
  JSON.stringify([plain.candidate.table, plain.candidate.method, plain.candidate.keys, plain.candidate.where]) ===
  JSON.stringify([
    variant.candidate.table,
    variant.candidate.method,
    variant.candidate.widens ?? variant.candidate.keys,
    variant.candidate.where,
  ]);

/**
 * Round two: the covering variant (INCLUDE) of each index that paid, and the one with the ORDER BY
 * keys where only a few values need them, each kept only when it makes its queries significantly
 * faster than the plain index did: the extra bytes must pay for themselves.
 */
async function coveringRound(
  c: Session,
  workload: Workload,
  trials: Trial[],
  round1: Trial[],
  runs: { before: BenchResult; after1: BenchResult },
  result: AdviceResult,
  o: AdviseOptions,
) {
  const winners = round1.filter((t) => t.effects.some((e) => e.verdict === 'faster'));
  const siblings = trials.filter((t) => t.outcome === 'not-tried' && roundTwo(t) && winners.some((w) => addsTo(t, w)));
  for (const t of trials.filter((x) => x.outcome === 'not-tried' && roundTwo(x) && !siblings.includes(x))) {
    const plain = t.candidate.widens ? 'the index without its ORDER BY keys' : 'its plain variant';
    Object.assign(t, { outcome: 'screened-out', reason: `${plain} made no query faster` });
  }
  if (!siblings.length) return;
  const after2 = await buildAndMeasure(c, workload, [...winners, ...siblings], siblings, runs.before, result, o);
  const vsPlain = compareRuns(runs.after1, after2).queries;
  for (const s of siblings) {
    const plain = winners.find((w) => addsTo(s, w))!;
    const read = vsPlain.filter((q) => s.effects.some((e) => e.query === q.name));
    if (read.some(variantPays)) {
      const variant = s.candidate.widens ? 'with the ORDER BY keys' : 'its covering variant';
      Object.assign(plain, { outcome: 'no-gain', reason: `${variant} ${s.name} is significantly faster` });
    } else Object.assign(s, { outcome: 'no-gain', reason: variantShortfall(read, plain.name) });
  }
}

/** Losers go at once: an index no query used, or that made none faster, only costs writes and disk from here on. */
async function dropLosers(c: Session, round1: Trial[], packName: string, o: AdviseOptions): Promise<void> {
  const losers = round1.filter((t) => !t.effects.some((e) => e.verdict === 'faster'));
  if (losers.length) step(o, `dropping ${losers.length} trial index(es) that made no query faster`);
  await dropTrialIndexes(c, packName, losers, o);
}

/** Drop these trial indexes now (the rest of the trial pack stays): they only cost writes and disk from here on. */
async function dropTrialIndexes(c: Session, packName: string, trials: Trial[], o: AdviseOptions): Promise<void> {
  for (const t of trials) {
    const r = await rollbackPack(c, packName, { ...o, only: `${t.candidate.table.schema}.${t.name}` });
    if (r.error) throw r.error;
  }
}

async function measureTrials(
  c: Session,
  workload: Workload,
  result: AdviceResult,
  round1: Trial[],
  o: AdviseOptions,
  lookup: TableLookup,
): Promise<BenchResult> {
  const probes = await writeProbes(c, await trialPack(round1, result.trialPack), o.bench.statementTimeoutMs);
  result.writesSkipped = probes.skipped.map((s) => `no ${s.probe} probe on ${s.table}: ${s.reason}`);
  result.writesRan = probes.written;
  const measured = { ...workload, queries: [...workload.queries, ...probes.queries] };
  const own = workloadWrites(workload, lookup, round1);
  const probeNames = [...probes.queries.map((q) => q.name), ...own.map((w) => w.name)];
  step(o, `measuring ${servedBy(round1).size} queries and ${probeNames.length} write probes before the trial builds`);
  const before = await benchQueries(
    c,
    measured,
    new Set([...servedBy(result.trials.filter((t) => t.outcome === 'not-tried')), ...probeNames]),
    o,
  );
  const planOnly = workload.queries.filter((q) => q.planOnly && servedBy(round1).has(q.name));
  const plansBefore = await genericPlans(c, planOnly, o);
  const after1 = await buildAndMeasure(c, measured, round1, round1, before, result, o, probeNames);
  await recordEstimates(c, round1, planOnly, plansBefore, o);
  result.writes = writeCosts(before, after1, probeNames, round1, own);
  await dropLosers(c, round1, result.trialPack, o);
  await coveringRound(c, workload, result.trials, round1, { before, after1 }, result, o);
  return before;
}

/**
 * The pack as it will be applied, measured once more: the other trials dropped, the kept indexes
 * alone. Each number the pack's comments give is then true of that pack, not of a round in which
 * other indexes stood beside it; an index no faster query read any more goes.
 */
async function confirmKept(c: Session, workload: Workload, result: AdviceResult, before: BenchResult, o: AdviseOptions): Promise<void> {
  const kept = result.trials.filter((t) => t.outcome === 'kept');
  if (!kept.length) return;
  const standing = new Set((await readRows(c, result.trialPack)).map((r) => r.name));
  const others = result.trials.filter((t) => t.outcome !== 'kept' && standing.has(t.name));
  step(o, `measuring the ${kept.length} kept index(es) alone, as the pack will be applied`);
  await dropTrialIndexes(c, result.trialPack, others, o);
  const measured = new Set(kept.flatMap((t) => t.effects.filter((e) => !e.estimated).map((e) => e.query)));
  if (!measured.size) return;
  const { final, comparison } = await measureAgainIfInconclusive(c, workload, before, await benchQueries(c, workload, measured, o), o);
  for (const t of kept) {
    const estimated = t.effects.filter((e) => e.estimated);
    const earlier = t.effects.filter((e) => !e.estimated).map((e) => e.query);
    recordEffects(t, final, comparison.queries, kept);
    t.effects.push(...estimated);
    if (!t.effects.some((e) => e.verdict === 'faster'))
      Object.assign(t, { outcome: 'no-gain', reason: `measured with the pack alone, ${confirmedNothing(t, earlier)}` });
  }
  // Not in the pack any more: the views are measured without it.
  await dropTrialIndexes(
    c,
    result.trialPack,
    kept.filter((t) => t.outcome !== 'kept'),
    o,
  );
}

/**
 * Each trial round and the pack alone are measured minutes after `before`, and the machine may have
 * moved in between: a query the window could not decide (`inconclusive`, whose reason says to
 * re-run the comparison) is measured once more, and that measurement stands (second-window.ts).
 */
async function measureAgainIfInconclusive(c: Session, workload: Workload, before: BenchResult, first: BenchResult, o: AdviseOptions) {
  const comparison = compareRuns(before, first);
  const undecided = undecidedQueries(comparison);
  if (!undecided.size) return { final: first, comparison };
  step(o, `measuring ${undecided.size} query(ies) again that the first window could not decide`);
  const final = withSecondWindow(first, await benchQueries(c, workload, undecided, o));
  return { final, comparison: compareRuns(before, final) };
}

/** Why a kept index lost its place when the pack was measured alone: each query's verdict, or that no plan read it any more. */
function confirmedNothing(t: Trial, earlier: string[]): string {
  const said = t.effects.map((e) => `${e.query} ${e.verdict}${e.reason ? ` (${e.reason})` : ''}`);
  const unread = earlier.filter((q) => !t.effects.some((e) => e.query === q));
  if (unread.length) said.push(`no plan of ${unread.join(', ')} read it any more`);
  return `no query it serves was significantly faster: ${said.join('; ')}`;
}

/** The generic plan of each query advise cannot run (`-- values-from: none`), as the database is now. */
async function genericPlans(c: Session, queries: WorkloadQuery[], o: AdviseOptions): Promise<Map<string, GenericPlan>> {
  const plans = new Map<string, GenericPlan>();
  for (const q of queries) plans.set(q.name, await genericPlan(c, q.forms[0].sql, q.forms[0].paramCount, o.bench.statementTimeoutMs));
  return plans;
}

/** With the round's trial indexes built: what each did to the queries advise cannot run, by their generic plans. */
async function recordEstimates(c: Session, round: Trial[], queries: WorkloadQuery[], before: Map<string, GenericPlan>, o: AdviseOptions) {
  if (!queries.length) return;
  step(o, `planning ${queries.length} query(ies) without values (their generic plans) with the trial indexes`);
  const after = await genericPlans(c, queries, o);
  for (const t of round) {
    for (const q of queries.filter((x) => t.candidate.queries.includes(x.name))) {
      const e = estimatedEffect(q, t.name, before.get(q.name)!, after.get(q.name)!);
      if (e) t.effects.push(e);
    }
  }
}

interface WorkloadWrite {
  name: string;
  table: string;
  callsPerHour?: number;
}

const tableOf = (t: Trial) => `${t.candidate.table.schema}.${t.candidate.table.name}`;

/**
 * The workload's own writes (a captured workload taken with --include-writes) on tables the round
 * indexes: measured before and after like the probes, and weighed by how often production runs them.
 */
function workloadWrites(workload: Workload, lookup: TableLookup, round: Trial[]): WorkloadWrite[] {
  const indexed = new Set(round.map(tableOf));
  return workload.queries.flatMap((q): WorkloadWrite[] => {
    if (q.forms[0].readOnly || q.planOnly) return [];
    const target = payloadOf(parseTrusted(q.forms[0].sql)).relation as RangeVar | undefined;
    const ref = target ? rangeVarRef(target) : null;
    const facts = ref ? lookup(ref.schema, ref.name) : undefined;
    const table = facts ? `${facts.schema}.${facts.name}` : '';
    return facts && indexed.has(table) ? [{ name: q.name, table, callsPerHour: q.callsPerHour }] : [];
  });
}

function writeCosts(before: BenchResult, after: BenchResult, names: string[], round1: Trial[], own: WorkloadWrite[]): WriteCost[] {
  const med = (r: BenchResult, n: string) => r.queries.find((q) => q.name === n)?.execution.median ?? NaN;
  return names.map((probe) => {
    const mine = own.find((w) => w.name === probe);
    const table = mine?.table ?? probe.slice(probe.indexOf(':') + 1);
    const indexes = round1.filter((t) => tableOf(t) === table).length;
    const cost = { probe, table, beforeMs: med(before, probe), afterMs: med(after, probe), indexes };
    if (!mine) return { ...cost, source: 'probe' as const };
    return { ...cost, source: 'production' as const, ...(mine.callsPerHour !== undefined ? { callsPerHour: mine.callsPerHour } : {}) };
  });
}

function trialsFor(parsed: { name: string; tree: Node }[], lookup: TableLookup, db: DatabaseFacts): Trial[] {
  const all = parsed.flatMap((q) => candidatesForQuery(q.name, q.tree, lookup, db));
  return mergeCandidates(all).map((candidate) => {
    const name = candidateName(candidate);
    return {
      candidate,
      name,
      sql: candidateSql(candidate, name),
      predicted: null,
      sizeBytes: null,
      effects: [],
      outcome: 'not-tried',
      reason: '',
    };
  });
}

/** Find, screen, build, measure and select; the database ends as it began, but for the statistics of the tables it analyzed (`analyzed`). */
export async function adviseWorkload(c: Session, workload: Workload, o: AdviseOptions): Promise<AdviceResult> {
  await prepareSession(c);
  if (!o.dryRun) await requireWritable(c);
  const result: AdviceResult = {
    workload: workload.name,
    writes: [],
    writesSkipped: [],
    writesRan: [],
    trialPack: `${TRIAL_PREFIX}${randomBytes(4).toString('hex')}`,
    hypopg: 'absent',
    trigram: 'not-needed',
    trials: [],
    refused: [],
    analyzed: [],
    views: [],
    cleanedUp: [],
  };
  if (o.dryRun) return adviseSteps(c, workload, result, o);
  // Held until this session ends: another advise, started meanwhile, leaves this run's trials alone.
  await holdRunKey(c, trialRunKey(result.trialPack)!);
  try {
    result.cleanedUp = await cleanLeftovers(c, o);
    return await adviseSteps(c, workload, result, o);
  } finally {
    await releaseRunKey(c, trialRunKey(result.trialPack)!).catch(() => {});
  }
}

async function adviseSteps(c: Session, all: Workload, result: AdviceResult, o: AdviseOptions): Promise<AdviceResult> {
  step(o, 'planning each query once');
  result.refused = await refusedQueries(c, all.queries, o.bench);
  const refused = new Set(result.refused.map((r) => r.name));
  const workload = { ...all, queries: all.queries.filter((q) => !refused.has(q.name)) };
  const views = await viewsRead(c, workload);
  const parsed = parsedQueries(workload, views);
  const lookup = await tableLookup(
    c,
    parsed.map((q) => q.tree),
  );
  // Any schema name makes the pattern candidates: whether one would exist decides whether pg_trgm is wanted.
  const wanted = trialsFor(parsed, lookup, { trigramSchema: 'pg_trgm' }).some((t) => isTrigram(t.candidate));
  const trigram = await useTrigram(c, { install: !!o.installTrigram, wanted, dryRun: o.dryRun, run: result.trialPack });
  result.trigram = trigram.use;
  result.trials = trialsFor(parsed, lookup, { trigramSchema: trigram.schema });
  try {
    return await trialSteps(c, workload, lookup, result, o);
  } finally {
    result.trigram = await releaseTrigram(c, result.trigram, packNeedsTrigram(result), result.trialPack).catch(() => result.trigram);
  }
}

async function trialSteps(
  c: Session,
  workload: Workload,
  lookup: TableLookup,
  result: AdviceResult,
  o: AdviseOptions,
): Promise<AdviceResult> {
  const assessed = await validateTrials(c, result.trials, result.trialPack);
  await markCovered(c, assessed);
  result.hypopg = await useHypopg(c, o);
  const hypopg = await hypopgSchema(c);
  if (hypopg)
    await screenWithHypopg(
      c,
      hypopg,
      result.trials,
      await plannedQueries(c, workload, o.bench.statementTimeoutMs),
      o.bench.statementTimeoutMs,
    );
  const screened = !!hypopg;
  result.views = viewTrials(workload, lookup);
  if (o.dryRun) return result;
  const chosen = chooseTrials(result.trials, o, screened);
  if (!chosen.length && !result.views.some((v) => v.view)) return result;
  try {
    if (chosen.length) {
      const before = await measureTrials(c, workload, result, chosen, o, lookup);
      selectTrials(result.trials, o);
      await confirmKept(c, workload, result, before, o);
    }
    await viewRound(c, workload, result, o);
  } catch (err) {
    result.error = o.signal?.aborted ? failure(err, 'advise', o.signal) : asPgoptError(err, (e) => translatePgError(e, 'advise'));
  } finally {
    await dropTrials(c, result, o);
  }
  return result;
}

/** Views for the aggregate queries, measured with the kept indexes standing (they are in the same trial pack). */
async function viewRound(c: Session, workload: Workload, result: AdviceResult, o: AdviseOptions): Promise<void> {
  const proposed = result.views.filter((v) => v.view);
  if (!proposed.length) return;
  step(o, `building ${proposed.length} materialized view(s) for the aggregate queries, and checking their rows`);
  const standing = result.trials.filter((t) => t.outcome === 'kept').map((t) => t.sql);
  await measureViews(c, workload, result.views, { name: result.trialPack, standing }, o);
}

/** Every trial index goes, whatever happened: the pack advise writes is for the user to apply. */
async function dropTrials(c: Session, result: AdviceResult, o: AdviseOptions): Promise<void> {
  o.onProgress?.({ type: 'step', message: 'dropping the trial indexes' });
  const r = await rollbackPack(c, result.trialPack, { ...o, signal: undefined }).catch((err) => ({
    error: asPgoptError(err, (e) => translatePgError(e, 'dropping the trial indexes')),
  }));
  if (r.error && !result.error) {
    result.error = new PgoptError('database', `the trial indexes could not all be dropped: ${r.error.message}`, {
      hint: `the next pgopt advise drops them, or run: pgopt rollback ${result.trialPack}`,
    });
  }
}
