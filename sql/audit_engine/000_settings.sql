-- The audit_engine optimization pack: 16 indexes and 3 materialized views, each serving named
-- queries of fixtures/audit_engine/workload.sql. pgopt builds every index CONCURRENTLY.
-- Enough memory for the larger sorts (the 1M-row execution_history builds and view queries).
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
