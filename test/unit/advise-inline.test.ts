import { beforeAll, describe, expect, it } from 'vitest';
import type { SelectStmt } from '@pgsql/types';
import { ensureParser, parseTrusted } from '../../src/sql/parse.js';
import { nodeAs } from '../../src/sql/tree.js';
import { inlineProjections, type ViewDefinitions } from '../../src/advise/inline.js';
import { candidatesForQuery, keyText, type TableFacts } from '../../src/advise/candidates.js';

beforeAll(ensureParser);

const posts: TableFacts = {
  schema: 'public',
  name: 'posts',
  columns: new Map([
    ['id', 'integer'],
    ['blog_id', 'integer'],
  ]),
};
const lookup = (_: string | null, name: string) => (name === 'posts' ? posts : undefined);
const keys = (sql: string, views: ViewDefinitions = new Map()) =>
  candidatesForQuery('q', inlineProjections(parseTrusted(sql), views), lookup).map(
    (c) => `${c.table.name} (${c.keys.map(keyText).join(', ')})`,
  );
const view = (sql: string) => nodeAs(parseTrusted(sql), 'SelectStmt') as SelectStmt;

describe('views and CTEs folded as the planner folds them', () => {
  it('a filter on an inlined CTE filters its table', () => {
    expect(keys(`WITH cte AS (SELECT * FROM posts) SELECT * FROM cte WHERE id = $1`)).toContain('posts (id)');
    expect(keys(`WITH cte AS NOT MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte c WHERE c.id = $1`)).toContain('posts (id)');
    expect(keys(`WITH cte AS (SELECT blog_id AS b FROM posts) SELECT * FROM cte WHERE b = $1`)).toContain('posts (blog_id)');
  });
  it('a MATERIALIZED CTE, or one that is more than a projection, is computed first: no index on its table serves the filter', () => {
    expect(keys(`WITH cte AS MATERIALIZED (SELECT * FROM posts) SELECT * FROM cte WHERE id = $1`)).toEqual([]);
    expect(keys(`WITH cte AS (SELECT blog_id, count(*) AS n FROM posts GROUP BY 1) SELECT * FROM cte WHERE n > $1`)).toEqual([]);
  });
  it('a filter through a view on its renamed column', () => {
    const views: ViewDefinitions = new Map([['.posts_view', view(`SELECT posts.id AS view_id FROM public.posts`)]]);
    expect(keys(`SELECT * FROM posts_view WHERE view_id = $1`, views)).toContain('posts (id)');
    expect(keys(`SELECT * FROM posts_view v WHERE v.view_id = $1`, views)).toContain('posts (id)');
  });
});
