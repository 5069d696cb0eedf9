-- The CI service's indexes, written by hand for workload.sql (before advise was run on it).

-- dequeue: only queued jobs matter; per queue, in the order the runner takes them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_queued ON ci.jobs (queue, priority DESC, run_at) WHERE status = 'queued';

-- child_jobs and pipeline_artifacts find a pipeline's jobs; pipeline_jobs lists them.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_pipeline ON ci.jobs (pipeline_id);

-- child_jobs: the children of a parent, newest first. Parents themselves have none.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_parent ON ci.jobs (parent_job, created_at DESC) WHERE parent_job IS NOT NULL;

-- latest_on_ref: one project, one ref, the newest.
CREATE INDEX CONCURRENTLY IF NOT EXISTS pipelines_project_ref ON ci.pipelines (project_id, ref, created_at DESC);

-- project_pipelines: one project's pages.
CREATE INDEX CONCURRENTLY IF NOT EXISTS pipelines_project ON ci.pipelines (project_id, created_at DESC);

-- runner_jobs: running jobs are few; the heartbeat asks by runner.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_running ON ci.jobs (runner_id) WHERE status = 'running';

-- pipeline_artifacts: the foreign key's other side.
CREATE INDEX CONCURRENTLY IF NOT EXISTS artifacts_job ON ci.artifacts (job_id);

-- expired_artifacts: the cleaner reads in expiry order; artifacts kept forever never expire.
CREATE INDEX CONCURRENTLY IF NOT EXISTS artifacts_expire ON ci.artifacts (expire_at) WHERE expire_at IS NOT NULL;

-- failed_deploys: failures are one job in nine; by name and time.
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_failed ON ci.jobs (name, created_at) WHERE status = 'failed';
