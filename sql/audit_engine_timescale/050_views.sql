-- The statistics pages on TimescaleDB (the first user's plan B): the two views over
-- execution_history are continuous aggregates. TimescaleDB refreshes them incrementally (only
-- the buckets whose rows changed), through `pgopt refresh` or a refresh policy, and never needs
-- REFRESH … CONCURRENTLY, so they carry no unique index. time_bucket('1 day', created_at) is the
-- UTC day, as the plain pack's date_trunc('day', created_at, 'UTC'), so the workload reads them
-- unchanged.
--
-- Their indexes are declared here rather than left to TimescaleDB (create_group_indexes = false):
-- each page reads one project's or one workflow's days, and an index that holds every column the
-- page shows answers it from the index alone. TimescaleDB's own (project_id, day DESC) index left
-- the rows to be fetched from the heap, where refreshes leave a project's days scattered (165
-- pages for statistics_report against 62 on plain PostgreSQL), and a sort by workflow after them.

-- statistics_report and workflow_stats: per workflow per day.
CREATE MATERIALIZED VIEW IF NOT EXISTS workflow_execution_stats WITH (timescaledb.continuous, timescaledb.create_group_indexes = false) AS
SELECT e.workflow_id,
       w.project_id,
       time_bucket(INTERVAL '1 day', e.created_at) AS day,
       count(*) AS runs,
       count(*) FILTER (WHERE e.status = 'success') AS successes,
       count(*) FILTER (WHERE e.status = 'failed') AS failures,
       round(avg(e.duration_ms)) AS avg_duration_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY e.duration_ms) AS p95_duration_ms
  FROM execution_history e
  JOIN workflows w ON w.id = e.workflow_id
 GROUP BY 1, 2, 3;

-- statistics_report: a project's workflows, each with its days, in the order the page shows them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_execution_stats_project
    ON workflow_execution_stats (project_id, workflow_id, day)
    INCLUDE (runs, successes, failures, avg_duration_ms, p95_duration_ms);

-- workflow_stats: one workflow's days.
CREATE INDEX CONCURRENTLY IF NOT EXISTS workflow_execution_stats_workflow
    ON workflow_execution_stats (workflow_id, day) INCLUDE (runs, failures, avg_duration_ms);

-- project_trend: per project per day.
CREATE MATERIALIZED VIEW IF NOT EXISTS project_daily_stats WITH (timescaledb.continuous, timescaledb.create_group_indexes = false) AS
SELECT w.project_id,
       time_bucket(INTERVAL '1 day', e.created_at) AS day,
       count(*) AS runs,
       count(*) FILTER (WHERE e.status = 'failed') AS failures,
       count(DISTINCT e.workflow_id) AS active_workflows,
       round(avg(e.duration_ms)) AS avg_duration_ms
  FROM execution_history e
  JOIN workflows w ON w.id = e.workflow_id
 GROUP BY 1, 2;

-- project_trend: one project's days.
CREATE INDEX CONCURRENTLY IF NOT EXISTS project_daily_stats_project
    ON project_daily_stats (project_id, day) INCLUDE (runs, failures, active_workflows, avg_duration_ms);

-- node_type_usage reads workflows only (no hypertable): it stays a materialized view.
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
