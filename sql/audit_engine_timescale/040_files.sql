-- recent_files: project_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT 50.
-- Partial on live files: the predicate is in every file query, and soft-deleted rows never are.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_files_project_recent ON files (project_id, created_at DESC)
  WHERE deleted_at IS NULL;

-- workflow_files: workflow_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_files_workflow_recent ON files (workflow_id, created_at DESC)
  WHERE deleted_at IS NULL;
