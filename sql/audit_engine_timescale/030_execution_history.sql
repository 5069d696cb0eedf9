-- execution_history, workflow_detail (latest 5 runs): workflow_id = $1 ORDER BY created_at DESC
-- LIMIT n. Equality column first, then the sort key in the sort's direction: the index returns
-- the page in order, no sort.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_workflow_time ON execution_history (workflow_id, created_at DESC);

-- execution_history_by_status (workflow_id = $1 AND status = $2 ORDER BY created_at DESC) and
-- active_executions (each workflow of a project, status IN ('pending', 'running')): both
-- equalities before the sort key.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_workflow_status_time ON execution_history (workflow_id, status, created_at DESC);

-- execution_queue: the oldest pending/running runs. About 0.1% of the rows are active: the
-- partial index holds only them (a few hundred kB instead of tens of MB), ordered by created_at.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_active ON execution_history (created_at)
  WHERE status IN ('pending', 'running');

-- failure_feed: status = 'failed' ORDER BY created_at DESC LIMIT 100. Partial on the failed
-- tenth of the table, in the feed's order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_failed_time ON execution_history (created_at DESC)
  WHERE status = 'failed';

-- user_activity: triggered_by = $1 ORDER BY created_at DESC LIMIT 50 (the audit trail).
-- Schedule and webhook runs have no user; skipping their NULLs keeps the index to 40% of rows.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_user_time ON execution_history (triggered_by, created_at DESC)
  WHERE triggered_by IS NOT NULL;

-- error_search: status = 'failed' AND log_summary->>'errorCode' = $1 ORDER BY created_at DESC.
-- A btree on the extracted code (not GIN on the whole document): an equality plus the sort key
-- reads exactly the page; partial, since only failed runs carry a code.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_error_code ON execution_history ((log_summary->>'errorCode'), created_at DESC)
  WHERE status = 'failed';
