-- A job queue, as many applications keep one: tenants, a status enum, priorities, JSONB payloads.
CREATE TYPE job_status AS ENUM ('queued', 'running', 'done', 'failed');
CREATE TABLE jobs (
  id bigserial PRIMARY KEY,
  "tenantId" int NOT NULL,
  status job_status NOT NULL,
  priority int NOT NULL,
  "runAt" timestamptz NOT NULL,
  attempts int NOT NULL DEFAULT 0,
  payload jsonb NOT NULL
);
INSERT INTO jobs ("tenantId", status, priority, "runAt", attempts, payload)
SELECT 1 + (g::bigint * 7919) % 500,
       (CASE WHEN g % 50 = 0 THEN 'queued' WHEN g % 97 = 0 THEN 'running' WHEN g % 13 = 0 THEN 'failed' ELSE 'done' END)::job_status,
       g % 10, timestamptz '2026-01-01' + (g % 100000) * interval '1 minute', g % 4,
       jsonb_build_object('kind', (ARRAY['email', 'sms', 'webhook', 'report'])[1 + g % 4], 'shard', g % 16)
  FROM generate_series(1, 200000) g;
ANALYZE jobs;
