import type { Node } from '@pgsql/types';
import { ensureParser, tryParse } from '../sql/parse.js';
import { strings, walk, type AnyNode } from '../sql/tree.js';

/**
 * SQL that pgopt sends to a Citus worker (master_run_on_worker) is parsed there under the worker
 * session's settings, which the database owner controls: its search_path when names are resolved,
 * and its standard_conforming_strings when string literals are read, both before any pin in the
 * same text could take effect. So worker SQL is built to mean one thing whatever those settings:
 * - no backslash anywhere (a literal then reads the same with standard_conforming_strings on or off),
 *   and names travel as hex (`hexText`), never inside quotes;
 * - every function, operator and type named with its schema, so no planted `public.=(oid, regclass)`
 *   or `public.make_interval(integer)` can be a better match than pg_catalog's;
 * - no construct that looks an operator up by its bare name (USING and NATURAL joins, ORDER BY …
 *   USING, CASE x WHEN, IN lists, BETWEEN, IS DISTINCT FROM, LIKE).
 * `workerSqlProblems` checks a text against these rules with PostgreSQL's own parser; pgopt refuses
 * to send any text that breaks one.
 */

/** A name as worker SQL carries it: hex digits, decoded on the worker. */
export const hexText = (s: string): string =>
  `pg_catalog.convert_from(pg_catalog.decode('${Buffer.from(s, 'utf8').toString('hex')}', 'hex'), 'UTF8')`;

/** A text[] of names, each as hex. */
export const hexTextArray = (items: string[]): string => `ARRAY[${items.map(hexText).join(', ')}]::pg_catalog.text[]`;

const qualified = (names: string[]) => names.length === 2 && names[0] === 'pg_catalog';

function nodeProblems(key: string, v: AnyNode): string[] {
  switch (key) {
    case 'FuncCall': {
      const name = strings(v.funcname as Node[]);
      return qualified(name) ? [] : [`function ${name.join('.')} without pg_catalog`];
    }
    case 'A_Expr': {
      const name = strings(v.name as Node[]);
      if (v.kind !== 'AEXPR_OP' && v.kind !== 'AEXPR_OP_ANY' && v.kind !== 'AEXPR_OP_ALL')
        return [`${String(v.kind)} looks its operator up by name`];
      return qualified(name) ? [] : [`operator ${name.join('.')} without OPERATOR(pg_catalog.…)`];
    }
    case 'SubLink': {
      const op = strings(v.operName as Node[] | undefined);
      return op.length && !qualified(op) ? [`operator ${op.join('.')} of a sublink without pg_catalog`] : [];
    }
    case 'TypeName':
    case 'typeName': {
      const name = strings(v.names as Node[]);
      return qualified(name) ? [] : [`type ${name.join('.')} without pg_catalog`];
    }
    case 'JoinExpr':
      return v.usingClause || v.isNatural ? ['USING or NATURAL join (an operator looked up by name)'] : [];
    case 'SortBy':
      return v.useOp ? ['ORDER BY … USING (an operator looked up by name)'] : [];
    case 'CaseExpr':
      return v.arg ? ['CASE x WHEN (an operator looked up by name)'] : [];
    default:
      return [];
  }
}

/** What in `sql` a worker's settings could change the meaning of; empty when nothing. */
export function workerSqlProblems(sql: string): string[] {
  if (sql.includes('\\')) return ['a backslash (read differently with standard_conforming_strings off)'];
  const tree = tryParse(sql);
  if (!tree) return ['it does not parse'];
  const problems: string[] = [];
  walk(tree, (key, v) => problems.push(...nodeProblems(key, v)));
  return [...new Set(problems)];
}

/** The text, once it is known to mean the same on any worker; otherwise a bug in pgopt, never sent. */
export async function checkedWorkerSql(sql: string): Promise<string> {
  await ensureParser();
  const problems = workerSqlProblems(sql);
  if (problems.length) throw new Error(`worker SQL pgopt built is not pinned (${problems.join('; ')}): ${sql}`);
  return sql;
}
