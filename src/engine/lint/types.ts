import type { IndexStmt } from '@pgsql/types';
import type { SourceLocation } from '../../errors.js';
import type { Assessment } from '../assess.js';

export const LINT_RULES = [
  'not-concurrent',
  'missing-if-not-exists',
  'unique-duplicates',
  'matview-no-unique-index',
  'redundant-index',
  'gin-jsonb-ops',
  'low-cardinality',
  'write-heavy-table',
  'hypertable-unique',
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
export interface IndexKey {
  name: string;
  /** The table, schema-qualified and quoted. */
  table: string;
  method: string;
  cols: string[];
  where: string;
  unique: boolean;
}

export interface TableStats {
  rows: number;
  writes: number;
  reads: number;
  indexes: number;
}

/** One object of the pack, with what its statement says. */
export interface LintObject {
  a: Assessment;
  /** The CREATE INDEX (indexes only). */
  index: IndexStmt | null;
  /** Its key (indexes only). */
  key: IndexKey | null;
  ifNotExists: boolean;
}

/** Everything the rules need from the catalog, read in one pass before any rule runs. */
export interface LintFacts {
  objects: LintObject[];
  /** Indexes already in the database on the tables the pack indexes. */
  existing: IndexKey[];
  tables: Map<string, TableStats>;
  /** format_type of plain GIN key columns without an operator class: `table|column`. */
  columnTypes: Map<string, string>;
  /** pg_stats.n_distinct of single plain btree key columns: `table|column`. */
  distinct: Map<string, number>;
  /**
   * A key a pending UNIQUE index finds twice in the table's data, per object; or why the data was
   * not read (the check runs as the table's owner, and pgopt could not act as it).
   */
  duplicates: Map<LintObject, { sample: string; count: number } | { unchecked: string }>;
  /** A hypertable's partitioning columns, by table (TimescaleDB). */
  dimensions: Map<string, string[]>;
}

/** What a rule says of one object; the runner adds where and which. */
export interface RuleFinding {
  rule: LintRule;
  severity: 'error' | 'warning';
  message: string;
  hint: string;
}

/** A lint rule: a pure function of one object and the facts. */
export type Rule = (o: LintObject, facts: LintFacts) => RuleFinding[];

export const columnKey = (table: string, column: string) => `${table}|${column}`;
