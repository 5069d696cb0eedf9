-- The audit_engine pack on TimescaleDB (the first user's plan B): the same 16 indexes, pgopt building
-- those on the execution_history hypertable chunk by chunk, and the statistics views as continuous aggregates.
-- Enough memory for the larger sorts (the 1M-row execution_history builds and view queries).
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';
