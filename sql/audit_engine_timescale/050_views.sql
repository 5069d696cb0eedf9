-- The statistics pages on TimescaleDB (the first user's plan B): the two views over
-- execution_history are continuous aggregates. TimescaleDB refreshes them incrementally (only
-- the buckets whose rows changed), through `pgopt refresh` or a refresh policy, and never needs
-- REFRESH … CONCURRENTLY, so they carry no unique index: TimescaleDB indexes each GROUP BY
-- column with the day itself. time_bucket('1 day', created_at) is the UTC day, as the plain
-- pack's date_trunc('day', created_at, 'UTC'), so the workload reads them unchanged.

-- statistics_report and workflow_stats: per workflow per day.
CREATE MATERIALIZED VIEW IF NOT EXISTS workflow_execution_stats WITH (timescaledb.continuous) AS
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

-- project_trend: per project per day.
CREATE MATERIALIZED VIEW IF NOT EXISTS project_daily_stats WITH (timescaledb.continuous) AS
SELECT w.project_id,
       time_bucket(INTERVAL '1 day', e.created_at) AS day,
       count(*) AS runs,
       count(*) FILTER (WHERE e.status = 'failed') AS failures,
       count(DISTINCT e.workflow_id) AS active_workflows,
       round(avg(e.duration_ms)) AS avg_duration_ms
  FROM execution_history e
  JOIN workflows w ON w.id = e.workflow_id
 GROUP BY 1, 2;

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
