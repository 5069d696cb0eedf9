-- Runs per workflow per day, refreshable CONCURRENTLY thanks to its unique index.
CREATE MATERIALIZED VIEW app.execution_daily AS
  SELECT "workflowId", date_trunc('day', "createdAt") AS day, count(*) AS runs
    FROM app."Execution" GROUP BY 1, 2;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS execution_daily_key ON app.execution_daily ("workflowId", day);
