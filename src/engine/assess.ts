import { randomBytes } from 'node:crypto';
import { inputError, PgoptError } from '../errors.js';
import {
  canCreateIn,
  currentSchema,
  findObjects,
  findRelation,
  findRelations,
  indexTree,
  objectKey,
  relationOid,
  viewCalls,
  type ViewCall,
  type Relation,
} from '../db/catalog.js';
import { withRolledBackTransaction } from '../db/scoped.js';
import { displayName, qualify } from '../db/ident.js';
import { checkRollbackOverride } from '../pack/rollback-override.js';
import { allowedTarget, statementTargets, type Candidate } from '../pack/targets.js';
import { foreignTarget } from '../pack/load-pack.js';
import { asUser, isStandby, prepareSession, runOneStatement, type Session } from '../db/session.js';
import { translatePgError } from '../db/pg-errors.js';
import { displayRelation } from '../sql/tree.js';
import { rewriteIndexSql, rewriteMatviewSql, splitMatviewSql } from '../pack/rewrite.js';
import type { Pack, PackObject, PackStatement, RelationRef } from '../pack/types.js';
import { indexShape, queryShape } from './definition.js';
import { readRows, type RegistryRow } from './registry.js';
import { checkPrivileges } from './privileges.js';
import {
  citusRelationSize,
  citusVersion,
  indexOnPlacements,
  nameHashes,
  onShards,
  shardPlacements,
  tableTopology,
  type PlacementIndex,
  type ShardPlacement,
  type Topology,
} from '../db/citus.js';
import { judgePlacements, type PlacementVerdict } from './placements.js';
import { decideState, type ObjectState } from './decide.js';

export { OBJECT_STATES, type ObjectState } from './decide.js';

export interface LiveObject {
  oid: number;
  valid: boolean;
  populated: boolean;
  definition: string;
  sizeBytes: number;
  /** An index of the object's name on another table than the pack's (its name), else null. */
  onOtherTable: string | null;
  /** On a Citus distributed or reference table: the index on every shard placement. */
  placements: PlacementVerdict | null;
}

/** The relation an index is on, resolved. */
export interface IndexedRelation {
  schema: string;
  name: string;
  /** A partitioned table: its indexes are built and dropped per partition (partitioned.ts). */
  partitioned: boolean;
  /** How Citus holds the table; null where the database has no Citus (or for a pack view). */
  topology: Topology | null;
  /**
   * The table's partition tree (the root's oid; for a pack view, its name): builds anywhere in one
   * tree wait for each other's locks, so apply keeps them on one connection (lanes.ts).
   */
  lockGroup: string;
}

/** One pack object resolved against the database. */
export interface Assessment {
  object: PackObject;
  /** Resolved schema (the table's for an index; explicit or current_schema() for a view). */
  schema: string;
  qualifiedName: string;
  /** The indexed relation, resolved (index only). */
  table: IndexedRelation | null;
  /** This pack's registry row, if any. */
  row: RegistryRow | null;
  /** Another pack that owns an object of this name. */
  ownedBy: string | null;
  live: LiveObject | null;
  /** The server's rendering of the pack's statement (from the dry run). */
  /** As the server renders the pack's statement; null where it cannot be rendered (a standby without a record). */
  expectedDefinition: string | null;
  /** True when the live object's definition matches the pack's. */
  matches: boolean | null;
  state: ObjectState;
  reason: string;
}

export interface PackAssessment {
  pack: Pack;
  assessments: Assessment[];
  /** Tables each statement touches, resolved (for lock reporting). */
  tableOf: Map<number, Relation>;
  /** Estimated rows each statement reads (its table, or a view's sources): the cost of building it. */
  rowsRead: Map<number, number>;
}

const packMatview = (pack: Pack, ref: RelationRef, schemaOf: Map<PackObject, string>) =>
  pack.objects.find((o) => o.kind === 'matview' && o.name === ref.name && (ref.schema === null || ref.schema === schemaOf.get(o)));

function missingRelation(s: PackStatement, ref: RelationRef): PgoptError {
  return inputError(
    `relation "${displayRelation(ref)}" does not exist in the target database`,
    s.location,
    'check the pack against the schema (and search_path) of the database you point pgopt at',
  );
}

/**
 * Resolve every object and check every reference before anything runs, then dry-run the
 * pack's CREATE statements in a transaction that is rolled back: indexes on empty clones of
 * their tables, views WITH NO DATA. The server itself thus validates columns, opclasses and
 * expressions, and renders the definition verify compares against.
 */
export async function assessPack(c: Session, pack: Pack, opts: { forChange?: boolean } = {}): Promise<PackAssessment> {
  await prepareSession(c);
  const defaultSchema = await currentSchema(c);
  if (!defaultSchema) throw new PgoptError('input', 'the connection has no current schema (search_path is empty)');
  const names = await resolveNames(c, pack, defaultSchema);
  const { schemaOf, tables } = names;
  for (const o of pack.objects) checkOverrideSchema(o, schemaOf.get(o)!);
  refuseResolvedTwice(pack, schemaOf);
  if (!pack.allowUnsafe) await checkTargets(c, pack, schemaOf, tables);
  const rows = await readRows(c);
  const { live, otherKind } = await readLive(c, pack, names);
  if (opts.forChange) {
    // Before the dry run: a role without privileges gets the whole list, not the first refusal.
    await checkPrivileges(
      c,
      pack.objects.map((o) => ({
        table: tables.get(o) ?? null,
        schema: schemaOf.get(o)!,
        qualifiedName: displayName(schemaOf.get(o)!, o.name),
        exists: !!live.get(o),
      })),
    );
  }
  const expected = isStandby(c)
    ? recordedDefinitions(pack, rows, schemaOf)
    : await dryRun(c, pack, schemaOf, tables, live, recordedRenderings(pack, rows, schemaOf, live));
  if (!isStandby(c)) await readPlacements(c, pack, tables, live, expected);
  const assessments = pack.objects.map((o) => {
    const a = assessmentOf(pack, o, {
      schema: schemaOf.get(o)!,
      table: tables.get(o) ?? null,
      rows,
      live: live.get(o) ?? null,
      expected: expected.get(o)!,
      otherKind: otherKind.get(o) ?? null,
    });
    // A healthy distributed index says what was checked behind it: "32/32 shards valid".
    const shards = a.live?.placements;
    if (shards && !shards.problems.length && (a.state === 'applied' || a.state === 'pre-existing'))
      a.reason = a.reason ? `${a.reason}; ${shards.summary}` : shards.summary;
    return a;
  });
  return { pack, assessments, tableOf: names.tableOf, rowsRead: names.rowsRead };
}

/** Every name of the pack resolved against the catalog (or against a view the pack creates first). */
interface ResolvedNames {
  schemaOf: Map<PackObject, string>;
  tables: Map<PackObject, IndexedRelation>;
  tableOf: Map<number, Relation>;
  rowsRead: Map<number, number>;
}

async function resolveNames(c: Session, pack: Pack, defaultSchema: string): Promise<ResolvedNames> {
  const names: ResolvedNames = { schemaOf: new Map(), tables: new Map(), tableOf: new Map(), rowsRead: new Map() };
  const { schemaOf, tables } = names;
  // Every reference in one query, and Citus asked once: resolving costs the same for 2 objects or 2,000.
  const refs = pack.statements.flatMap((s) => s.references);
  const found = new Map(refs.map((r, i) => [r, i]));
  const relations = await findRelations(c, refs);
  const citus = !!(await citusVersion(c));
  const topologies = new Map<number, Topology | null>();
  for (const s of pack.statements) {
    const o = s.object;
    if (o?.kind === 'matview') schemaOf.set(o, o.schema ?? defaultSchema);
    for (const ref of s.references) {
      const mv = packMatview(pack, ref, schemaOf);
      if (mv && mv.statement.ordinal < s.ordinal) {
        if (o?.kind === 'index') {
          const schema = schemaOf.get(mv)!;
          tables.set(o, { schema, name: mv.name, partitioned: false, topology: null, lockGroup: `${schema}.${mv.name}` });
        }
        continue;
      }
      const rel = relations[found.get(ref)!];
      if (!rel) throw missingRelation(s, ref);
      if (citus && s.object?.kind === 'index' && !topologies.has(rel.oid)) topologies.set(rel.oid, await tableTopology(c, rel.oid));
      resolveReference(s, ref, rel, topologies.get(rel.oid) ?? null, names);
    }
    if (o?.kind === 'index') schemaOf.set(o, tables.get(o)!.schema);
  }
  return names;
}

function resolveReference(s: PackStatement, ref: RelationRef, rel: Relation, topology: Topology | null, names: ResolvedNames): void {
  names.rowsRead.set(s.ordinal, (names.rowsRead.get(s.ordinal) ?? 0) + rel.estimatedRows);
  if (s.object?.kind !== 'index') return;
  if (!['r', 'p', 'm'].includes(rel.relkind)) throw inputError(`"${displayRelation(ref)}" is not a table or materialized view`, s.location);
  names.tables.set(s.object, {
    schema: rel.schema,
    name: rel.name,
    partitioned: rel.relkind === 'p',
    topology,
    lockGroup: `oid ${rel.treeRoot}`,
  });
  names.tableOf.set(s.ordinal, rel);
}

/** What exists today under each object's name: the object itself, or something else of that name (one query for the pack). */
async function readLive(c: Session, pack: Pack, names: ResolvedNames) {
  const live = new Map<PackObject, LiveObject | null>();
  const otherKind = new Map<PackObject, string | null>();
  const found = await findObjects(
    c,
    pack.objects.map((o) => ({ schema: names.schemaOf.get(o)!, name: o.name })),
  );
  for (const o of pack.objects) {
    const schema = names.schemaOf.get(o)!;
    const held = found.get(objectKey(schema, o.name)) ?? null;
    const i = o.kind === 'index' ? (held?.index ?? null) : null;
    const m = o.kind === 'matview' ? (held?.matview ?? null) : null;
    // An index lives in its table's schema, so the table's name tells whether it is the pack's table.
    const onOtherTable = i && i.table !== names.tables.get(o)!.name ? displayName(schema, i.table) : null;
    const object: LiveObject | null = i
      ? {
          oid: i.oid,
          valid: i.valid && i.ready,
          populated: true,
          definition: i.definition,
          sizeBytes: i.sizeBytes,
          onOtherTable,
          placements: null,
        }
      : m && {
          oid: m.oid,
          valid: true,
          populated: m.populated,
          definition: m.definition,
          sizeBytes: m.sizeBytes,
          onOtherTable: null,
          placements: null,
        };
    live.set(o, object);
    otherKind.set(o, object ? null : (held?.relkind ?? null));
  }
  return { live, otherKind };
}

/**
 * Behind an index of a Citus distributed or reference table: its shard indexes on every
 * placement, judged against the pack's definition. The coordinator's size of such an index is
 * its shell's (about 0); Citus sums the shards.
 */
async function readPlacements(
  c: Session,
  pack: Pack,
  tables: Map<PackObject, IndexedRelation>,
  live: Map<PackObject, LiveObject | null>,
  expected: Map<PackObject, string | null>,
): Promise<void> {
  const byTable = new Map<number, ShardPlacement[]>();
  for (const o of pack.objects) {
    const l = live.get(o);
    const t = tables.get(o);
    if (!l || l.onOtherTable || !onShards(t?.topology)) continue;
    // A partitioned table's index is one index per partition, each with its own shards.
    const tree = await indexTree(c, l.oid);
    const hashes = await nameHashes(
      c,
      tree.map((i) => i.name),
    );
    const placements: PlacementIndex[] = [];
    for (const i of tree) {
      if (!byTable.has(i.tableOid)) byTable.set(i.tableOid, await readShards(c, i.tableOid, t));
      placements.push(...indexOnPlacements(byTable.get(i.tableOid)!, i.name, hashes.get(i.name)!));
    }
    // A distributed or reference table always has placements: none read is no proof of anything.
    if (!placements.length) throw new PgoptError('database', `Citus lists no shard placements for ${displayName(t.schema, t.name)}`);
    const want = expected.get(o);
    l.placements = judgePlacements(placements, (def) => !want || sameDefinition(o, def, want));
    const sizes = await Promise.all(tree.filter((i) => i.leaf).map((i) => citusRelationSize(c, i.oid)));
    if (sizes.every((s) => s !== null)) l.sizeBytes = sizes.reduce((a, b) => a! + b!, 0)!;
  }
}

async function readShards(c: Session, tableOid: number, t: IndexedRelation): Promise<ShardPlacement[]> {
  return shardPlacements(c, tableOid).catch((err) => {
    throw new PgoptError('database', `cannot read the shards of ${displayName(t.schema, t.name)}: ${(err as Error).message}`, {
      cause: err,
      hint: 'every Citus worker must be reachable from the coordinator to verify a distributed index',
    });
  });
}

function assessmentOf(
  pack: Pack,
  o: PackObject,
  f: {
    schema: string;
    table: IndexedRelation | null;
    rows: RegistryRow[];
    live: LiveObject | null;
    expected: string | null;
    otherKind: string | null;
  },
): Assessment {
  const row = f.rows.find((r) => r.pack === pack.name && r.schema === f.schema && r.name === o.name) ?? null;
  const owner = f.rows.find(
    (r) => r.pack !== pack.name && r.schema === f.schema && r.name === o.name && !r.preExisting && r.state === 'applied',
  );
  const matches = f.live && f.live.valid && f.expected !== null ? sameDefinition(o, f.live.definition, f.expected) : null;
  const facts = {
    qualifiedName: displayName(f.schema, o.name),
    row,
    ownedBy: owner?.pack ?? null,
    live: f.live,
    expectedDefinition: f.expected,
    matches,
  };
  const decision = decideState({ ...facts, kind: o.kind, fingerprint: o.fingerprint, otherKind: f.otherKind });
  return { object: o, schema: f.schema, table: f.table, ...facts, ...decision };
}

/**
 * Load time compared names as the pack writes them; now every name is resolved, a maintenance
 * statement must still be about the pack's own objects and tables, schema and all.
 */
async function checkTargets(
  c: Session,
  pack: Pack,
  schemaOf: Map<PackObject, string>,
  tables: Map<PackObject, IndexedRelation>,
): Promise<void> {
  const candidates: Candidate[] = [
    ...pack.objects.map((o) => ({ schema: schemaOf.get(o)!, name: o.name, matview: o.kind === 'matview', table: false })),
    ...[...tables.values()].map((t) => ({ schema: t.schema, name: t.name, matview: false, table: true })),
  ];
  for (const s of pack.statements) {
    const t = statementTargets(s);
    for (const ref of t?.refs ?? []) {
      const rel = ref.schema ? null : await findRelation(c, null, ref.name);
      const resolved = rel ? { schema: rel.schema, name: rel.name } : ref;
      if (!allowedTarget(resolved, t!.role, candidates)) throw foreignTarget(s, t!, resolved);
    }
  }
}

function refuseResolvedTwice(pack: Pack, schemaOf: Map<PackObject, string>): void {
  const seen = new Map<string, PackObject>();
  for (const o of pack.objects) {
    const key = qualify(schemaOf.get(o)!, o.name);
    const prior = seen.get(key);
    if (prior)
      throw inputError(
        `${displayName(schemaOf.get(o)!, o.name)} is created twice (first at line ${prior.statement.location.line} of ${prior.statement.location.file})`,
        o.statement.location,
      );
    seen.set(key, o);
  }
}

/** An override naming a schema must name the one the object resolved to (load time could not know it). */
function checkOverrideSchema(o: PackObject, schema: string): void {
  if (!o.rollbackOverride) return;
  const checked = checkRollbackOverride(o.rollbackOverride, o.kind, schema, o.name);
  if ('refused' in checked) {
    throw inputError(
      `-- pgopt:rollback of ${displayName(schema, o.name)} may only drop that object: ${checked.refused}`,
      o.statement.location,
    );
  }
}

function sameDefinition(o: PackObject, liveDef: string, expectedDef: string): boolean {
  try {
    return o.kind === 'index' ? indexShape(liveDef) === indexShape(expectedDef) : queryShape(liveDef) === queryShape(expectedDef);
  } catch {
    return false;
  }
}

/** The dry run's way to run one pack statement: inside a savepoint, errors as the pack's. */
type DryStep = (sql: string, clone?: { name: string; for: string }) => Promise<void>;

function dryStep(c: Session, s: PackStatement): DryStep {
  /** `clone`: the dry run's stand-in, named in errors by the table it stands for. */
  return async (sql, clone) => {
    await c.query('SAVEPOINT pgopt_dry');
    try {
      await asUser(c, () => runOneStatement(c, sql));
    } catch (err) {
      await c.query('ROLLBACK TO SAVEPOINT pgopt_dry').catch(() => {});
      const t = translatePgError(err, 'the server rejects this statement');
      const message = clone ? t.message.replaceAll(`"${clone.name}"`, clone.for).replaceAll(clone.name, clone.for) : t.message;
      // A missing privilege is the database saying no, not a bad pack.
      const kind = (err as { code?: string })?.code === '42501' ? 'database' : 'input';
      throw new PgoptError(kind, message, { location: s.location, hint: t.hint, cause: err });
    }
  };
}

/**
 * The server's rendering of a pack index, built on an empty temporary clone of its table: one
 * clone per table, made the first time one of its indexes is rendered (`clones`).
 */
async function dryIndex(
  c: Session,
  s: PackStatement,
  t: { schema: string; name: string },
  names: { clone: string; index: string },
  clones: Set<string>,
): Promise<string> {
  const run = dryStep(c, s);
  const { clone, index } = names;
  if (!clones.has(clone)) {
    // A partitioned table's clone is partitioned the same way, so the server applies its rules
    // (a UNIQUE index must include the partition key) here rather than half-way through apply.
    const key = (await c.query(`SELECT pg_get_partkeydef(to_regclass($1)) AS k`, [qualify(t.schema, t.name)])).rows[0]?.k as string | null;
    await run(`CREATE TEMP TABLE ${clone} (LIKE ${qualify(t.schema, t.name)})${key ? ` PARTITION BY ${key}` : ''}`);
    clones.add(clone);
  }
  await run(rewriteIndexSql(s.sql, { name: index, relation: `pg_temp.${clone}`, concurrently: false }), {
    name: clone,
    for: displayName(t.schema, t.name),
  });
  const res = await c.query(`SELECT pg_get_indexdef(to_regclass($1)) AS d`, [`pg_temp.${index}`]);
  return res.rows[0].d;
}

/**
 * The server's rendering of a pack view. Later statements may index or read it, so it is made
 * (empty) under its own name; a role without CREATE there (a read-only verify) renders the query
 * as a temporary view instead: pg_get_viewdef renders both the same way.
 */
async function dryMatview(
  c: Session,
  pack: Pack,
  s: PackStatement,
  schema: string,
  dryName: string | null,
): Promise<{ definition: string; readOnly: boolean }> {
  const o = s.object!;
  const readOnly = !(await canCreateIn(c, schema));
  const rel = readOnly ? `pg_temp.${dryName ?? `pgopt_dry_${o.name}`}` : qualify(schema, dryName ?? o.name);
  await dryStep(c, s)(readOnly ? `CREATE TEMP VIEW ${rel} AS ${splitMatviewSql(s.sql).query}` : rewriteMatviewSql(s.sql, rel));
  const res = await c.query(`SELECT pg_get_viewdef(to_regclass($1)) AS d`, [rel]);
  if (!pack.allowUnsafe) refuseUnsafeCalls(s, await viewCalls(c, rel));
  return { definition: res.rows[0].d, readOnly };
}

/**
 * On a hot standby nothing can be created, not even in a rolled-back transaction: what the server
 * rendered when this very statement (same fingerprint) was applied on the primary stands in.
 */
function recordedDefinitions(pack: Pack, rows: RegistryRow[], schemaOf: Map<PackObject, string>): Map<PackObject, string | null> {
  const out = new Map<PackObject, string | null>();
  for (const o of pack.objects) {
    const row = rows.find((r) => r.pack === pack.name && r.schema === schemaOf.get(o) && r.name === o.name);
    out.set(o, row && row.fingerprint === o.fingerprint && row.catalogDefinition ? row.catalogDefinition : null);
  }
  return out;
}

async function dryRun(
  c: Session,
  pack: Pack,
  schemaOf: Map<PackObject, string>,
  tables: Map<PackObject, { schema: string; name: string }>,
  live: Map<PackObject, LiveObject | null>,
  recorded: Map<PackObject, string>,
): Promise<Map<PackObject, string>> {
  const out = new Map<PackObject, string>(recorded);
  const tag = randomBytes(4).toString('hex');
  /** Views of the pack this role cannot create (a read-only verify): rendered as temporary views. */
  const readOnlyViews = new Set<string>();
  const clones = new Set<string>();
  const cloneOf = new Map<string, string>();
  const steps = async () => {
    await c.query(`SET LOCAL lock_timeout = '5s'`);
    for (const s of pack.statements) {
      const o = s.object;
      if (s.kind === 'set') await dryStep(c, s)(s.sql);
      if (!o || recorded.has(o)) continue;
      const dryName = `pgopt_dry_${tag}_${s.ordinal}`;
      if (o.kind === 'matview') {
        const schema = schemaOf.get(o)!;
        const m = await dryMatview(c, pack, s, schema, live.get(o) || !(await canCreateIn(c, schema)) ? dryName : null);
        if (m.readOnly) readOnlyViews.add(`${schema}.${o.name}`);
        out.set(o, m.definition);
        continue;
      }
      const t = tables.get(o)!;
      // An index on a pack view that is not there and cannot be made here: nothing to render it on.
      const unmade = readOnlyViews.has(`${t.schema}.${t.name}`) && !(await relationOid(c, qualify(t.schema, t.name)));
      const table = qualify(t.schema, t.name);
      if (!cloneOf.has(table)) cloneOf.set(table, `pgopt_dry_${tag}_t${cloneOf.size}`);
      out.set(o, unmade ? '' : await dryIndex(c, s, t, { clone: cloneOf.get(table)!, index: dryName }, clones));
    }
  };
  await withRolledBackTransaction(c, steps, { timeoutMs: 60_000 });
  return out;
}

/**
 * An index this pack applied, recorded with this very statement (same fingerprint) and the
 * server's rendering of it, and still in the catalog as recorded: that rendering is the pack's, no
 * dry run needed. What verify and a no-op apply read then does not grow with the pack.
 */
function recordedRenderings(
  pack: Pack,
  rows: RegistryRow[],
  schemaOf: Map<PackObject, string>,
  live: Map<PackObject, LiveObject | null>,
): Map<PackObject, string> {
  const out = new Map<PackObject, string>();
  for (const o of pack.objects) {
    const l = live.get(o);
    const row = rows.find((r) => r.pack === pack.name && r.schema === schemaOf.get(o) && r.name === o.name);
    if (o.kind !== 'index' || !l || !l.valid || l.onOtherTable || !row?.catalogDefinition) continue;
    if (row.state !== 'applied' || row.fingerprint !== o.fingerprint || row.objectOid !== l.oid) continue;
    if (sameDefinition(o, l.definition, row.catalogDefinition)) out.set(o, row.catalogDefinition);
  }
  return out;
}

/**
 * What a materialized view may call without --allow-unsafe: no VOLATILE function (it could change
 * the database at every build and refresh), and nothing owned by a role the caller does not trust.
 * A volatility label is the owner's word: a function marked STABLE may still write, and pgopt runs
 * it with the caller's rights. Trusted owners: a superuser, the caller, a role the caller is a member of.
 */
function refuseUnsafeCalls(s: PackStatement, calls: ViewCall[]): void {
  const refuse = (what: string, hint: string) => {
    throw new PgoptError('input', `refused: the materialized view ${what}`, { location: s.location, hint });
  };
  const foreign = calls.filter((f) => !f.ownerTrusted);
  if (foreign.length) {
    refuse(
      `calls ${foreign.map((f) => `${f.signature} (owned by ${f.owner})`).join(', ')}, code another role wrote, which would run with your rights at every build and refresh`,
      'have a trusted role own those functions, or pass --allow-unsafe if you have read them',
    );
  }
  const volatile = calls.filter((f) => f.volatile).map((f) => f.signature);
  if (volatile.length) {
    refuse(
      `calls VOLATILE function(s) ${volatile.join(', ')}, which may change the database at every build and refresh`,
      'use only STABLE or IMMUTABLE functions in a view, or pass --allow-unsafe to run it anyway',
    );
  }
}
