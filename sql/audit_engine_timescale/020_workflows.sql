-- workflow_list (project_id = $1 ORDER BY updated_at DESC) and active_executions (the project's
-- workflows, joined to their runs). Not partial on status <> 'archived': archived rows are 8%,
-- and active_executions needs every workflow of the project. INCLUDE carries the list's other
-- columns so the page is an index-only scan that never touches the wide rows (JSONB nodes).
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflows_project_updated ON workflows (project_id, updated_at DESC)
  INCLUDE (id, name, status, version);

-- my_workflows: created_by = $1 ORDER BY updated_at DESC LIMIT 20 reads 20 index entries;
-- INCLUDE makes it index-only, as for the project list.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflows_creator_updated ON workflows (created_by, updated_at DESC)
  INCLUDE (id, project_id, name, status);

-- node_search: nodes @> '[{"type": …}]'. Only containment is queried, so jsonb_path_ops:
-- smaller and faster than the default jsonb_ops, which also indexes keys for ?/?|/?&.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflows_nodes ON workflows USING gin (nodes jsonb_path_ops);
