/**
 * Where hygiene decides: which indexes cost without paying, which of them may be dropped, and why
 * the others stay. Pure functions of the catalog facts (src/db/index-facts.ts), tested without a
 * server (test/unit/hygiene-rules.test.ts).
 */
import type { IndexFact, IndexKey } from '../db/index-facts.js';
import { qualify } from '../db/ident.js';

export const FINDING_KINDS = ['unused', 'duplicate', 'redundant', 'invalid', 'bloated', 'unindexed-foreign-key'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export interface Finding {
  kind: FindingKind;
  /** `schema.name` of the index (for a foreign key: its table). */
  subject: string;
  table: string;
  sizeBytes: number;
  evidence: string;
  /** The index that serves instead (duplicate, redundant). */
  twin: string | null;
  /** Why it is not proposed for a drop, when it is not. */
  keptBecause: string | null;
  /** What fixes it other than a drop (REINDEX, CREATE INDEX). */
  fix: string | null;
}

/** How long the scan counters have counted, on every server asked (a standby counts its own). */
export interface Coverage {
  /** Seconds since the latest start among the servers: the evidence is at least this old. */
  seconds: number;
  servers: number;
}

export interface HygieneRules {
  /** Refuse to call an index unused on evidence younger than this (seconds). */
  minAgeSeconds: number;
  /** Index name (`schema.name`) → the pack that owns it in pgopt's registry. */
  ownedBy: Map<string, string>;
  /** Scans on the standbys, by `schema.name`. */
  replicaScans: Map<string, number>[];
}

export const keyOf = (ix: Pick<IndexFact, 'schema' | 'name'>): string => `${ix.schema}.${ix.name}`;

/** Why an index must stay whatever its use: what it enforces, replicates by or belongs to. */
export function protection(ix: IndexFact, ownedBy: Map<string, string>): string | null {
  const r = ix.roles;
  const pack = ownedBy.get(keyOf(ix));
  if (pack) return `owned by pgopt pack "${pack}": pgopt rollback ${pack} removes it`;
  if (r.constraint) return `backs the ${r.constraint.kind} constraint ${r.constraint.name}`;
  // An INVALID unique index is a failed build's leftover, not a constraint anyone has: it may go.
  if (r.unique && ix.valid) return 'unique: it refuses duplicate rows';
  if (r.replicaIdentity) return "the table's replica identity: logical replication finds rows by it";
  if (r.clustered) return 'the table is CLUSTERed on it';
  if (r.attached) return "a partition's part of a partitioned index: it goes only with its parent";
  if (r.partitioned) return 'on a partitioned table: DROP INDEX CONCURRENTLY cannot drop it, and a plain DROP locks every partition';
  return null;
}

const sameKey = (a: IndexKey, b: IndexKey): boolean =>
  a.attnum === b.attnum &&
  (a.attnum !== 0 || a.text === b.text) &&
  a.opclass === b.opclass &&
  a.collation === b.collation &&
  a.option === b.option;

const keyPositions = (ix: IndexFact): IndexKey[] => ix.keys.slice(0, ix.keyCount);
const included = (ix: IndexFact): IndexKey[] => ix.keys.slice(ix.keyCount);

/** Same table, method, keys position by position, INCLUDE columns and predicate. */
export function duplicates(a: IndexFact, b: IndexFact): boolean {
  if (a.tableOid !== b.tableOid || a.method !== b.method || a.predicate !== b.predicate) return false;
  if (a.keyCount !== b.keyCount || a.keys.length !== b.keys.length) return false;
  if (!keyPositions(a).every((k, i) => sameKey(k, keyPositions(b)[i]))) return false;
  return included(a).every((k) => included(b).some((m) => m.attnum === k.attnum && m.text === k.text));
}

/**
 * `a` is served by `b`: both btrees on one table with one predicate, a's keys lead b's, and every
 * column a carries (INCLUDE) b carries too, so an index-only scan of a stays one of b.
 */
export function covers(b: IndexFact, a: IndexFact): boolean {
  if (a === b || a.tableOid !== b.tableOid || a.method !== 'btree' || b.method !== 'btree') return false;
  if (a.predicate !== b.predicate || a.keyCount > b.keyCount || duplicates(a, b)) return false;
  if (!keyPositions(a).every((k, i) => sameKey(k, keyPositions(b)[i]))) return false;
  return included(a).every((k) => b.keys.some((m) => m.attnum === k.attnum && m.text === k.text));
}

const hours = (s: number): string => (s >= 172800 ? `${Math.round(s / 86400)} days` : `${Math.round(s / 3600)} h`);

function finding(kind: FindingKind, ix: IndexFact, evidence: string, more: Partial<Finding> = {}): Finding {
  return {
    kind,
    subject: keyOf(ix),
    table: ix.table,
    sizeBytes: ix.sizeBytes,
    evidence,
    twin: null,
    keptBecause: null,
    fix: null,
    ...more,
  };
}

/** Scans on every server: the primary's counters plus each standby's. */
export const totalScans = (ix: IndexFact, rules: HygieneRules): number =>
  rules.replicaScans.reduce((s, m) => s + (m.get(keyOf(ix)) ?? 0), ix.scans);

function unusedFinding(ix: IndexFact, rules: HygieneRules, cov: Coverage, guard: string | null): Finding | null {
  if (!ix.valid || totalScans(ix, rules) > 0) return null;
  // An index that enforces a constraint is not there to be read: its zero scans say nothing.
  if (ix.roles.constraint || ix.roles.unique) return null;
  const evidence = `0 scans in at least ${hours(cov.seconds)} on ${cov.servers > 1 ? `${cov.servers} servers` : 'the primary'}; ${ix.tableWrites} row writes to its table`;
  if (cov.seconds < rules.minAgeSeconds)
    return finding('unused', ix, evidence, {
      keptBecause: `the evidence covers ${hours(cov.seconds)}, less than --min-age ${hours(rules.minAgeSeconds)}`,
    });
  return finding('unused', ix, evidence, { keptBecause: guard });
}

/** The one of identical indexes to keep: what it protects, then the most used, then the oldest. */
function keeperOf(group: IndexFact[], rules: HygieneRules): IndexFact {
  const rank = (ix: IndexFact): [number, number, number] => [protection(ix, rules.ownedBy) ? 0 : 1, -totalScans(ix, rules), ix.oid];
  return [...group].sort((x, y) => {
    const [a, b] = [rank(x), rank(y)];
    return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  })[0];
}

export interface Judgement {
  findings: Finding[];
  /** Proposed for the drop pack, each with its findings. */
  drops: IndexFact[];
}

/**
 * The drops, in an order that never leaves a query without its index: unused and invalid first,
 * then duplicates of a kept twin, then indexes whose keys lead one that stays.
 */
export function judgeIndexes(all: IndexFact[], rules: HygieneRules, cov: Coverage): Judgement {
  const findings: Finding[] = [];
  const drop = new Map<number, IndexFact>();
  const guard = (ix: IndexFact) => protection(ix, rules.ownedBy);
  const propose = (f: Finding, ix: IndexFact) => {
    findings.push(f);
    if (!f.keptBecause && !ix.building) drop.set(ix.oid, ix);
  };
  for (const ix of all) {
    const f = unusedFinding(ix, rules, cov, guard(ix));
    if (f) propose(f, ix);
  }
  for (const ix of all.filter((x) => !x.valid && !x.building)) {
    const why = rules.ownedBy.get(keyOf(ix));
    const evidence =
      'INVALID: a concurrent build or drop failed or was interrupted; the server keeps updating it on every write and never reads it';
    propose(
      finding('invalid', ix, evidence, { keptBecause: why ? `owned by pgopt pack "${why}": pgopt apply ${why} rebuilds it` : null }),
      ix,
    );
  }
  judgeTwins(all, rules, drop, propose);
  return { findings, drops: [...drop.values()] };
}

function judgeTwins(
  all: IndexFact[],
  rules: HygieneRules,
  drop: Map<number, IndexFact>,
  propose: (f: Finding, ix: IndexFact) => void,
): void {
  const valid = all.filter((x) => x.valid);
  const seen = new Set<number>();
  for (const ix of valid) {
    if (seen.has(ix.oid)) continue;
    const group = valid.filter((x) => x === ix || duplicates(ix, x));
    group.forEach((x) => seen.add(x.oid));
    if (group.length < 2) continue;
    const keeper = keeperOf(group, rules);
    for (const x of group.filter((g) => g !== keeper))
      propose(
        finding('duplicate', x, `same keys, operator classes, collations, INCLUDE and predicate as ${keyOf(keeper)}`, {
          twin: keyOf(keeper),
          keptBecause: protection(x, rules.ownedBy),
        }),
        x,
      );
  }
  for (const ix of valid) {
    const wider = valid.find((b) => !drop.has(b.oid) && covers(b, ix));
    if (!wider) continue;
    const evidence = `its keys lead ${keyOf(wider)} (${wider.keys
      .slice(0, wider.keyCount)
      .map((k) => k.text)
      .join(', ')}), with the same predicate`;
    propose(finding('redundant', ix, evidence, { twin: keyOf(wider), keptBecause: protection(ix, rules.ownedBy) }), ix);
  }
}

/** A btree's expected size, from its rows and key widths, at its fillfactor: what a fresh build would take. */
export function expectedPages(ix: IndexFact, widths: Map<string, number>): number | null {
  if (ix.method !== 'btree' || ix.tableRows <= 0) return null;
  let keyBytes = 0;
  for (const k of ix.keys) {
    const w = widths.get(`${ix.tableOid}:${k.attnum}`);
    if (k.attnum === 0 || w === undefined) return null;
    keyBytes += w;
  }
  // Item pointer (4) + index tuple header (8) + keys, MAXALIGNed; page header 24 and btree special space 16.
  const tuple = 4 + Math.ceil((8 + keyBytes) / 8) * 8;
  const usable = (8192 - 24 - 16) * ((ix.fillfactor ?? 90) / 100);
  return Math.ceil((ix.tableRows * tuple) / usable) + 1;
}

/** Bloated: at least half of it is empty space, and that space is at least 8 MB. Not a drop: REINDEX CONCURRENTLY. */
export function bloatFinding(ix: IndexFact, measured: number | null, expected: number | null): Finding | null {
  const emptyShare =
    measured !== null ? 1 - measured / (ix.fillfactor ?? 90) : expected !== null && ix.pages > 0 ? 1 - expected / ix.pages : null;
  if (emptyShare === null || emptyShare < 0.5 || emptyShare * ix.sizeBytes < 8 * 1024 * 1024) return null;
  const how =
    measured !== null
      ? `measured by pgstattuple: leaf density ${measured.toFixed(0)}%`
      : `estimated from its rows and key widths (an estimate: install pgstattuple to measure)`;
  return finding('bloated', ix, `${Math.round(emptyShare * 100)}% of its ${Math.round(ix.sizeBytes / 1048576)} MB is empty, ${how}`, {
    keptBecause: 'bloat is fixed by rebuilding, not dropping',
    fix: `REINDEX INDEX CONCURRENTLY ${qualify(ix.schema, ix.name)}`,
  });
}
