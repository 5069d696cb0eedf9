-- workflow_list (project_id = $1 ORDER BY updated_at DESC) and active_executions (the project's
-- workflows, joined to their runs). Not partial on status <> 'archived': archived rows are 8%,
-- and active_executions needs every workflow of the project.
CREATE INDEX idx_workflows_project_updated ON workflows (project_id, updated_at DESC);

-- my_workflows: created_by = $1 ORDER BY updated_at DESC LIMIT 20 reads 20 index entries.
CREATE INDEX idx_workflows_creator_updated ON workflows (created_by, updated_at DESC);

-- node_search: nodes @> '[{"type": …}]'. Only containment is queried, so jsonb_path_ops:
-- smaller and faster than the default jsonb_ops, which also indexes keys for ?/?|/?&.
CREATE INDEX idx_workflows_nodes ON workflows USING gin (nodes jsonb_path_ops);
