import type { CitusDatabase } from '../helpers/citus.js';

/**
 * What a Citus user has: its own schema, quoted camelCase, an enum, JSONB; a distributed table
 * (32 shards, by "workflowId") and a reference table (a copy on every node).
 */
export async function loadCitusSchema(db: CitusDatabase, rows = 100_000): Promise<void> {
  // One statement per round trip: Citus refuses some mixes of DDL and writes in one transaction.
  const statements = `
    CREATE SCHEMA "App";
    CREATE TYPE "App"."RunStatus" AS ENUM ('pending', 'running', 'success', 'failed');
    CREATE TABLE "App"."Project" (id bigint PRIMARY KEY, name text NOT NULL);
    CREATE TABLE "App"."Execution" (
      id bigint NOT NULL,
      "workflowId" int NOT NULL,
      "projectId" bigint NOT NULL,
      status "App"."RunStatus" NOT NULL,
      "createdAt" timestamptz NOT NULL,
      result jsonb,
      PRIMARY KEY (id, "workflowId")
    );
    SELECT create_reference_table('"App"."Project"');
    SELECT create_distributed_table('"App"."Execution"', 'workflowId');
    INSERT INTO "App"."Project" SELECT g, 'Project ' || g FROM generate_series(1, 50) g;
    INSERT INTO "App"."Execution"
      SELECT g, g % 500, 1 + g % 50, (ARRAY['pending','running','success','failed']::"App"."RunStatus"[])[1 + g % 4],
             '2026-01-01'::timestamptz - g * interval '1 minute', jsonb_build_object('kind', g % 7, 'error', 'E' || (g % 97))
        FROM generate_series(1, ${rows}) g;
    ANALYZE "App"."Project";
    ANALYZE "App"."Execution"`;
  for (const s of statements.split(/;\n/)) await db.query(s);
}

/** Longer than 63 bytes once Citus appends a shard id: its shard indexes get clipped, hashed names. */
export const LONG_NAME = 'idx_execution_by_workflow_and_creation_time_for_the_dashboard';

export const CITUS_PACK = `-- The Citus pack: every kind of index, on a distributed and on a reference table.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "idx_exec_workflowCreated" ON "App"."Execution" ("workflowId", "createdAt" DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_exec_failed ON "App"."Execution" ("createdAt") WHERE status = 'failed';
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_exec_result ON "App"."Execution" USING gin (result jsonb_path_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_exec_error ON "App"."Execution" ((result->>'error'), "createdAt");
CREATE INDEX CONCURRENTLY IF NOT EXISTS ${LONG_NAME} ON "App"."Execution" ("projectId", "createdAt");
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_project_name ON "App"."Project" (lower(name));
`;

// project_runs asks for a project's newest rows in order, which the index gives on every shard:
// whichever task Citus shows (the slowest, which varies from run to run) names the index. Without
// ORDER BY … LIMIT, a shard holding many of the project's rows may plan a Seq Scan; with a range on
// "createdAt" as well, so few rows matched on each 3k-row shard that a Seq Scan and a sort cost about
// as much as the index, and one run in four showed a shard that chose it.
export const CITUS_WORKLOAD = `-- Audit: what the dashboard runs.
-- See: https://docs.citusdata.com/en/stable/
-- name: workflow_runs
SELECT id, status FROM "App"."Execution" WHERE "workflowId" = 42 ORDER BY "createdAt" DESC LIMIT 20;
-- name: failures
SELECT id FROM "App"."Execution" WHERE status = 'failed' AND "createdAt" > '2025-12-31' ORDER BY "createdAt" LIMIT 50;
-- name: by_result
SELECT count(*) FROM "App"."Execution" WHERE result @> '{"kind": 3, "error": "E5"}';
-- name: project_runs
SELECT id FROM "App"."Execution" WHERE "projectId" = 7 ORDER BY "createdAt" DESC LIMIT 20;
-- name: project_by_name
SELECT id FROM "App"."Project" WHERE lower(name) = 'project 7';
`;
