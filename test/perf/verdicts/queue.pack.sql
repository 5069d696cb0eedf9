CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_queued_idx ON jobs (priority DESC, "runAt") WHERE status = 'queued';
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_tenant_failed_idx ON jobs ("tenantId", "runAt" DESC) WHERE status = 'failed';
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_payload_idx ON jobs USING gin (payload jsonb_path_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_runat_idx ON jobs ("runAt") INCLUDE (attempts);
