-- Example pack for fixtures/example/schema.sql.
-- A workflow's runs, newest first: equality column first, then the sort key in its order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_workflow_time ON app."Execution" ("workflowId", "createdAt" DESC);
-- Only active runs are polled; the partial index stays tiny.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_active ON app."Execution" (status) WHERE status IN ('pending', 'running');
-- Containment on result (@>) only: jsonb_path_ops is smaller than the default jsonb_ops.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_result ON app."Execution" USING gin (result jsonb_path_ops);
