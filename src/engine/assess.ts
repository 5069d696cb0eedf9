import { inputError, PgoptError } from '../errors.js';
import { currentSchema, findObjects, findRelation, findRelations, indexTree, objectKey, type Relation } from '../db/catalog.js';
import { displayName, qualify } from '../db/ident.js';
import { checkRollbackOverride } from '../pack/rollback-override.js';
import { allowedTarget, statementTargets, type Candidate } from '../pack/targets.js';
import { foreignTarget, uniqueOnContinuous } from '../pack/load-pack.js';
import { isStandby, prepareSession, type Session } from '../db/session.js';
import { displayRelation } from '../sql/tree.js';
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
import { judgeChunks, type ChunkVerdict } from './chunks.js';
import {
  chunkIndexes,
  isHypertable,
  MATERIALIZATION_SCHEMA,
  materializationOf,
  timescaleVersion,
  type Materialization,
} from '../db/timescale.js';
import { decideState, type ObjectState } from './decide.js';
import { dryRun } from './dry-run.js';

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
  /** On a TimescaleDB hypertable: the index on every chunk (chunks.ts). */
  chunks?: ChunkVerdict | null;
}

/** The relation an index is on, resolved. */
export interface IndexedRelation {
  schema: string;
  name: string;
  /** Its oid as resolved once by assess; null for a view this pack creates in the same run. */
  oid: number | null;
  /** A partitioned table: its indexes are built and dropped per partition (partitioned.ts). */
  partitioned: boolean;
  /** How Citus holds the table; null where the database has no Citus (or for a pack view). */
  topology: Topology | null;
  /** A TimescaleDB hypertable: its indexes are built and dropped per chunk (hypertable.ts). */
  hypertable?: boolean;
  /**
   * A TimescaleDB continuous aggregate: schema and name are the aggregate's, `oid` its
   * materialization hypertable's (null until the aggregate exists), where its indexes live, in
   * _timescaledb_internal, built chunk by chunk as on any hypertable.
   */
  continuous?: boolean;
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
  await readChunks(c, pack, tables, live);
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
    const shards = a.live?.placements ?? a.live?.chunks;
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
  /** A continuous aggregate's materialization hypertable, asked once per aggregate (null: no aggregate). */
  materialization: (schema: string, name: string) => Promise<Materialization | null>;
}

async function resolveNames(c: Session, pack: Pack, defaultSchema: string): Promise<ResolvedNames> {
  const asked = new Map<string, Promise<Materialization | null>>();
  const materialization = (schema: string, name: string) => {
    const key = qualify(schema, name);
    if (!asked.has(key)) asked.set(key, materializationOf(c, schema, name));
    return asked.get(key)!;
  };
  const names: ResolvedNames = { schemaOf: new Map(), tables: new Map(), tableOf: new Map(), rowsRead: new Map(), materialization };
  const { schemaOf, tables } = names;
  // Every reference in one query, and Citus asked once: resolving costs the same for 2 objects or 2,000.
  const refs = pack.statements.flatMap((s) => s.references);
  const found = new Map(refs.map((r, i) => [r, i]));
  const relations = await findRelations(c, refs);
  const citus = !!(await citusVersion(c));
  const timescale = !!(await timescaleVersion(c));
  const topologies = new Map<number, Topology | null>();
  const hypertables = new Map<number, boolean>();
  for (const s of pack.statements) {
    const o = s.object;
    if (o?.kind === 'matview') schemaOf.set(o, o.schema ?? defaultSchema);
    for (const ref of s.references) {
      const mv = packMatview(pack, ref, schemaOf);
      if (mv && mv.statement.ordinal < s.ordinal) {
        if (o?.kind === 'index') {
          const schema = schemaOf.get(mv)!;
          const stored = mv.continuous ? await names.materialization(schema, mv.name) : null;
          tables.set(o, {
            schema,
            name: mv.name,
            oid: stored?.oid ?? null,
            partitioned: false,
            topology: null,
            lockGroup: `${schema}.${mv.name}`,
          });
          if (mv.continuous) Object.assign(tables.get(o)!, { hypertable: true, continuous: true });
        }
        continue;
      }
      const rel = relations[found.get(ref)!];
      if (!rel) throw missingRelation(s, ref);
      if (timescale && o?.kind === 'index' && rel.relkind === 'v' && (await onContinuousAggregate(s, rel, names))) continue;
      if (citus && s.object?.kind === 'index' && !topologies.has(rel.oid)) topologies.set(rel.oid, await tableTopology(c, rel.oid));
      resolveReference(s, ref, rel, topologies.get(rel.oid) ?? null, names);
      if (timescale && o?.kind === 'index' && rel.relkind === 'r') {
        if (!hypertables.has(rel.oid)) hypertables.set(rel.oid, await isHypertable(c, rel.oid));
        names.tables.get(o)!.hypertable = hypertables.get(rel.oid);
      }
    }
    if (o?.kind === 'index') schemaOf.set(o, tables.get(o)!.continuous ? MATERIALIZATION_SCHEMA : tables.get(o)!.schema);
  }
  return names;
}

/** An index on a continuous aggregate already in the database: it is built on its materialization hypertable. */
async function onContinuousAggregate(s: PackStatement, rel: Relation, names: ResolvedNames): Promise<boolean> {
  const stored = await names.materialization(rel.schema, rel.name);
  if (!stored) return false;
  if (s.object!.unique) throw uniqueOnContinuous(s.object!);
  names.rowsRead.set(s.ordinal, (names.rowsRead.get(s.ordinal) ?? 0) + rel.estimatedRows);
  const lockGroup = `${rel.schema}.${rel.name}`;
  names.tables.set(s.object!, {
    schema: rel.schema,
    name: rel.name,
    oid: stored.oid,
    partitioned: false,
    topology: null,
    lockGroup,
    hypertable: true,
    continuous: true,
  });
  return true;
}

function resolveReference(s: PackStatement, ref: RelationRef, rel: Relation, topology: Topology | null, names: ResolvedNames): void {
  names.rowsRead.set(s.ordinal, (names.rowsRead.get(s.ordinal) ?? 0) + rel.estimatedRows);
  if (s.object?.kind !== 'index') return;
  if (!['r', 'p', 'm'].includes(rel.relkind)) throw inputError(`"${displayRelation(ref)}" is not a table or materialized view`, s.location);
  names.tables.set(s.object, {
    schema: rel.schema,
    name: rel.name,
    oid: rel.oid,
    partitioned: rel.relkind === 'p',
    topology,
    lockGroup: `oid ${rel.treeRoot}`,
  });
  names.tableOf.set(s.ordinal, rel);
}

/**
 * An index lives in its table's schema, so the table's name tells whether it is the pack's table;
 * on a continuous aggregate, it is the aggregate's materialization hypertable (none yet: another table).
 */
function onPackTable(i: { table: string; tableOid: number }, t: IndexedRelation): boolean {
  return t.continuous ? i.tableOid === t.oid : i.table === t.name;
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
    const onOtherTable = i && !onPackTable(i, names.tables.get(o)!) ? displayName(schema, i.table) : null;
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

/** Behind an index of a hypertable: the matching index on every chunk, and their sizes with the root's. */
async function readChunks(c: Session, pack: Pack, tables: Map<PackObject, IndexedRelation>, live: Map<PackObject, LiveObject | null>) {
  for (const o of pack.objects) {
    const l = live.get(o);
    const t = tables.get(o);
    if (!l || l.onOtherTable || !t?.hypertable || t.oid === null) continue;
    const rows = await chunkIndexes(c, t.oid, l.oid);
    l.chunks = judgeChunks(rows);
    l.sizeBytes += rows.reduce((sum, r) => sum + (r.index?.sizeBytes ?? 0), 0);
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
