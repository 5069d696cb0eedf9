import type { Node } from '@pgsql/types';
import type { SourceLocation } from '../errors.js';

export type { RelationRef } from '../sql/tree.js';
import type { RelationRef } from '../sql/tree.js';

/** What a pack statement does, decided from its parse tree. */
export const STATEMENT_KINDS = [
  'create-index',
  'create-matview',
  'analyze',
  'comment',
  'set',
  'refresh',
  'drop-own',
  'drop-index',
  'cagg-policy',
  'unsafe',
] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

export interface PackStatement {
  /** 0-based position in the pack. */
  ordinal: number;
  kind: StatementKind;
  /** The statement text as written (no trailing semicolon). */
  sql: string;
  location: SourceLocation;
  /** The parse tree node (e.g. `{ IndexStmt: … }`). */
  ast: Node;
  /** Relations the statement reads or targets that must exist before the pack runs. */
  references: RelationRef[];
  /** For create-index / create-matview. */
  object?: PackObject;
  /** For drop-index: an index the pack does not create, dropped and recorded so rollback builds it again. */
  drop?: PackDrop;
  /** For cagg-policy: `SELECT add_continuous_aggregate_policy('<view>', …)`, the view it is for. */
  policyFor?: RelationRef;
  /** For unsafe statements: why they are refused without --allow-unsafe. */
  refusal?: string;
  /** Refused even with --allow-unsafe (who pgopt acts as, how the server lexes, search_path). */
  refusedAlways?: boolean;
}

export const OBJECT_KINDS = ['index', 'matview'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** An index or materialized view a pack creates: the unit pgopt tracks, verifies and rolls back. */
export interface PackObject {
  kind: ObjectKind;
  /** Explicit schema, or null: an index lives in its table's schema, a view in current_schema(). */
  schema: string | null;
  name: string;
  /** True when the pack left the index unnamed and pgopt chose PostgreSQL's default name. */
  nameDerived: boolean;
  /** The indexed relation (index only). */
  table: RelationRef | null;
  unique: boolean;
  /** Access method (index only): btree, gin, gist, brin, hash, … */
  method: string | null;
  /** Written with CONCURRENTLY in the pack (apply builds concurrently either way by default). */
  writtenConcurrently: boolean;
  /** Stable hash of the parse tree, ignoring layout, comments, CONCURRENTLY and IF NOT EXISTS. */
  fingerprint: string;
  /** The override from a `-- pgopt:rollback` block, if any. */
  rollbackOverride: string[] | null;
  /** A TimescaleDB continuous aggregate (`WITH (timescaledb.continuous)`): created WITH NO DATA, refreshed by TimescaleDB. */
  continuous: boolean;
  /** Its refresh policy, when the pack declares one (a cagg-policy statement). */
  policy?: PackStatement;
  statement: PackStatement;
}

/** `DROP INDEX [CONCURRENTLY] [IF EXISTS] x` of an index the pack does not create (a hygiene drop pack). */
export interface PackDrop {
  /** As written; null: found on the user's search_path. */
  schema: string | null;
  name: string;
  statement: PackStatement;
}

export interface Pack {
  name: string;
  /** The file or directory the pack was read from. */
  source: string;
  files: string[];
  statements: PackStatement[];
  objects: PackObject[];
  /** Indexes the pack drops (not its own): run after every build, rebuilt by rollback. */
  drops: PackDrop[];
  /** Loaded with --allow-unsafe: checks that need the database (volatile functions in views) let it through too. */
  allowUnsafe: boolean;
}
