import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestDatabase } from './db.js';

/** Write a pack (one file or a directory of files) to a temp dir and return its path. */
export function writePack(name: string, files: string | Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgopt-pack-'));
  if (typeof files === 'string') {
    const p = join(dir, `${name}.sql`);
    writeFileSync(p, files);
    return p;
  }
  const p = join(dir, name);
  mkdirSync(p);
  for (const [f, text] of Object.entries(files)) writeFileSync(join(p, f), text);
  return p;
}

/** A small schema with what real ones have: its own schema, quoted camelCase, JSONB. */
export async function loadSmallSchema(db: TestDatabase, rows = 20000): Promise<void> {
  await db.query(`
    CREATE SCHEMA app;
    CREATE TABLE app.projects (id bigserial PRIMARY KEY, name text NOT NULL);
    CREATE TABLE app."Execution" (
      id bigserial PRIMARY KEY,
      "workflowId" int NOT NULL,
      "projectId" bigint REFERENCES app.projects(id),
      status text NOT NULL,
      "createdAt" timestamptz NOT NULL DEFAULT now(),
      result jsonb
    );
    INSERT INTO app.projects (name) SELECT 'p' || g FROM generate_series(1, 20) g;
    INSERT INTO app."Execution" ("workflowId", "projectId", status, "createdAt", result)
      SELECT g % 200, 1 + g % 20, (ARRAY['pending','running','success','failed'])[1 + g % 4],
             now() - g * interval '1 minute', jsonb_build_object('kind', g % 7)
        FROM generate_series(1, ${rows}) g;
  `);
}

export const SMALL_PACK = `-- The small pack: every kind of object pgopt tracks.
SET maintenance_work_mem = '64MB';
CREATE INDEX idx_exec_wf_time ON app."Execution" ("workflowId", "createdAt" DESC);
CREATE INDEX idx_exec_active ON app."Execution" (status) WHERE status IN ('pending', 'running');
CREATE INDEX idx_exec_result ON app."Execution" USING gin (result jsonb_path_ops);
CREATE INDEX idx_exec_lower ON app."Execution" (lower(status)) INCLUDE ("projectId");
CREATE MATERIALIZED VIEW app.exec_daily AS
  SELECT "workflowId", date_trunc('day', "createdAt") AS day, count(*) AS runs
    FROM app."Execution" GROUP BY 1, 2;
CREATE UNIQUE INDEX exec_daily_key ON app.exec_daily ("workflowId", day);
`;
