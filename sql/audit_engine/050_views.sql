-- Three materialized views for the statistics pages, refreshed with
--   REFRESH MATERIALIZED VIEW CONCURRENTLY <view>;   (e.g. every 5 minutes)
-- which needs a unique index on plain columns. Days are UTC days.

-- statistics_report and workflow_stats: per workflow per day, runs, successes, failures,
-- average and p95 duration. The raw queries aggregate up to a million rows per call.
CREATE MATERIALIZED VIEW IF NOT EXISTS workflow_execution_stats AS
SELECT e.workflow_id,
       w.project_id,
       date_trunc('day', e.created_at, 'UTC') AS day,
       count(*) AS runs,
       count(*) FILTER (WHERE e.status = 'success') AS successes,
       count(*) FILTER (WHERE e.status = 'failed') AS failures,
       round(avg(e.duration_ms)) AS avg_duration_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms) AS p95_duration_ms
  FROM execution_history e
  JOIN workflows w ON w.id = e.workflow_id
 GROUP BY 1, 2, 3;

-- workflow_stats reads one workflow's days; also the key REFRESH … CONCURRENTLY needs.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS workflow_execution_stats_key ON workflow_execution_stats (workflow_id, day);

-- statistics_report reads a project's workflows over a range of days.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_workflow_execution_stats_project_day ON workflow_execution_stats (project_id, day);

-- project_trend: per project per day.
CREATE MATERIALIZED VIEW IF NOT EXISTS project_daily_stats AS
SELECT w.project_id,
       date_trunc('day', e.created_at, 'UTC') AS day,
       count(*) AS runs,
       count(*) FILTER (WHERE e.status = 'failed') AS failures,
       count(DISTINCT e.workflow_id) AS active_workflows,
       round(avg(e.duration_ms)) AS avg_duration_ms
  FROM execution_history e
  JOIN workflows w ON w.id = e.workflow_id
 GROUP BY 1, 2;

-- project_trend reads a project's range of days; the refresh key.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS project_daily_stats_key ON project_daily_stats (project_id, day);

-- node_type_usage: per project, how many workflows use each node type.
CREATE MATERIALIZED VIEW IF NOT EXISTS node_type_usage AS
SELECT w.project_id,
       n->>'type' AS node_type,
       count(DISTINCT w.id) AS workflows,
       count(*) AS nodes
  FROM workflows w
 CROSS JOIN LATERAL jsonb_array_elements(w.nodes) n
 GROUP BY 1, 2;

-- node_type_usage reads a project's rows; the refresh key.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS node_type_usage_key ON node_type_usage (project_id, node_type);
