import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createCitusDatabase, type CitusDatabase } from '../helpers/citus.js';
import { runCli } from '../helpers/cli.js';

const PACK = fileURLToPath(new URL('../../sql/audit_engine', import.meta.url));
const WORKLOAD = fileURLToPath(new URL('../../fixtures/audit_engine/workload.sql', import.meta.url));

let db: CitusDatabase;
beforeAll(async () => {
  db = await createCitusDatabase('caudit');
});
afterAll(async () => db?.drop());

describe('audit_engine on Citus', () => {
  it('fixtures load --citus distributes it as documented; the pack applies, verifies per placement, is benched and rolled back', async () => {
    const load = await runCli(['fixtures', 'load', 'audit_engine', '--citus', '--scale', '0.05', '--db', db.url]);
    expect(load.code, load.stderr).toBe(0);
    const layout = await db.query(
      `SELECT table_name::text AS t, citus_table_type AS kind, distribution_column AS col, colocation_id AS co FROM citus_tables ORDER BY 1`,
    );
    expect(layout.map((r) => [r.t, r.kind, r.col])).toEqual([
      ['execution_history', 'distributed', 'workflow_id'],
      ['files', 'reference', '<none>'],
      ['projects', 'reference', '<none>'],
      ['users', 'reference', '<none>'],
      ['workflows', 'distributed', 'id'],
    ]);
    const co = Object.fromEntries(layout.map((r) => [r.t, r.co]));
    expect(co.execution_history).toBe(co.workflows);
    // The same rows as the one-server load: the generator ran before the tables were distributed.
    expect(await db.query(`SELECT count(*)::int AS n FROM execution_history`)).toEqual([{ n: 50_000 }]);

    const apply = await runCli(['apply', PACK, '--db', db.url]);
    expect(apply.code, apply.stderr).toBe(0);
    const v = await runCli(['verify', PACK, '--db', db.url, '--json']);
    expect(v.code, v.stdout).toBe(0);
    const reasons = Object.fromEntries(
      JSON.parse(v.stdout).objects.map((o: { object: string; reason: string }) => [o.object.replace('public.', ''), o.reason]),
    );
    expect(reasons.idx_execution_workflow_time).toBe('32/32 shards valid');
    expect(reasons.idx_workflows_nodes).toBe('32/32 shards valid');
    expect(reasons.idx_users_email_lower).toBe('3/3 placements valid');
    // The materialized views are local tables on the coordinator, with their indexes there.
    expect(reasons.workflow_execution_stats).toBe('');
    expect(reasons.workflow_execution_stats_key).toBe('');

    // The views on the coordinator refresh from the distributed tables, concurrently.
    const refresh = await runCli(['refresh', 'audit_engine', '--db', db.url]);
    expect(refresh.code, refresh.stderr).toBe(0);
    const status = await runCli(['status', '--db', db.url, '--json']);
    expect(status.code, status.stderr).toBe(0);

    const b = await runCli(['bench', WORKLOAD, '--pack', PACK, '--runs', '3', '--db', db.url, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const bench = JSON.parse(b.stdout);
    const used = Object.fromEntries(bench.account.objects.map((o: { name: string; usedBy: string[] }) => [o.name, o.usedBy]));
    expect(used.idx_execution_workflow_time.length).toBeGreaterThan(0);
    expect(used.workflow_execution_stats).toContain('statistics_report');
    expect(bench.run.queries.find((q: { name: string }) => q.name === 'workflow_detail').plan.headline).toMatch(
      /^Citus, \d+ tasks?: .*idx_execution_workflow_time on execution_history/,
    );

    const r = await runCli(['rollback', 'audit_engine', '--db', db.url]);
    expect(r.code, r.stderr).toBe(0);
    expect(await db.shardIndexes('idx_')).toEqual([]);
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE 'idx\\_%' OR relkind = 'm'`)).toEqual([]);
  });

  it('fixtures load --citus on a database without Citus is refused before anything is created', async () => {
    const admin = new pg.Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    await admin.query('DROP DATABASE IF EXISTS plain_no_citus');
    await admin.query('CREATE DATABASE plain_no_citus');
    try {
      const url = db.url.replace(/\/[^/]+$/, '/plain_no_citus');
      const r = await runCli(['fixtures', 'load', 'audit_engine', '--citus', '--scale', '0.01', '--db', url]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--citus: this database has no Citus extension');
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      expect((await c.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'execution_history'`)).rows).toEqual([{ n: 0 }]);
      await c.end();
      // Control: without --citus the same database loads.
      expect((await runCli(['fixtures', 'load', 'audit_engine', '--scale', '0.01', '--db', url])).code).toBe(0);
    } finally {
      await admin.query('DROP DATABASE IF EXISTS plain_no_citus WITH (FORCE)');
      await admin.end();
    }
  });
});
