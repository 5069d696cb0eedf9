-- name: queue_next_job
-- Audit: the worker's poll, every second, on every worker.
-- params: SELECT g % 10 FROM generate_series(1, 20) g
SELECT id FROM jobs WHERE status = 'queued' AND priority >= $1 ORDER BY priority DESC, "runAt" LIMIT 1;

-- name: tenant_failures
-- See: https://example.com/runbooks/failures
-- params: SELECT 1 + (g * 37) % 500 FROM generate_series(1, 20) g
SELECT id, "runAt", attempts FROM jobs WHERE "tenantId" = $1 AND status = 'failed' ORDER BY "runAt" DESC LIMIT 20;

-- name: webhooks_of_shard
-- params: SELECT g % 16 FROM generate_series(1, 16) g
SELECT count(*) FROM jobs WHERE payload @> jsonb_build_object('kind', 'webhook', 'shard', $1::int);

-- name: recent_window
-- Owner: platform team. A modest change: a range of about a sixth of the table.
-- params: SELECT timestamptz '2026-01-01' + (g * 1000) * interval '1 minute' FROM generate_series(1, 20) g
SELECT count(*), max(attempts) FROM jobs WHERE "runAt" >= $1::timestamptz AND "runAt" < $1::timestamptz + interval '12 days';
