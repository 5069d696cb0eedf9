import { parseTrusted } from '../sql/parse.js';
import { nodeAs, stripLayout } from '../sql/tree.js';

/**
 * Definitions are compared as parse trees of the server's own rendering
 * (pg_get_indexdef / pg_get_viewdef), never as text: the server has already normalised
 * casts, quoting and defaults, and the tree ignores whitespace.
 */

/** What an index is, without its name or table: two indexes with equal keys do the same job. */
export function indexShape(indexdef: string): string {
  const stmt = nodeAs(parseTrusted(indexdef), 'IndexStmt');
  const shape = stripLayout(stmt, new Set(['idxname', 'concurrent', 'if_not_exists'])) as Record<string, unknown>;
  // The relation is different by design (dry-run clone vs real table). So is ONLY: the server
  // renders an index of a partitioned table as ON ONLY, whichever way it was built.
  delete shape.relation;
  return JSON.stringify(shape);
}

/** A view's query as a tree. */
export function queryShape(viewdef: string): string {
  return JSON.stringify(stripLayout(parseTrusted(viewdef)));
}
