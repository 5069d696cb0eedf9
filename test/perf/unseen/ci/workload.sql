-- The CI service's hot queries, as its application sends them.

-- name: dequeue
-- A runner of a queue asks for the next jobs to run.
-- params: SELECT q FROM unnest(ARRAY['default', 'linux', 'macos', 'windows', 'gpu']) q
SELECT id, pipeline_id, name
  FROM ci.jobs
 WHERE queue = $1 AND status = 'queued' AND run_at <= now()
 ORDER BY priority DESC, run_at
 LIMIT 10;

-- name: child_jobs
-- A pipeline's page: the jobs under its first job, newest first.
-- params: SELECT id FROM ci.pipelines ORDER BY md5(id::text) LIMIT 100
SELECT id, name, status, duration_ms
  FROM ci.jobs
 WHERE parent_job = (SELECT min(id) FROM ci.jobs WHERE pipeline_id = $1)
 ORDER BY created_at DESC
 LIMIT 20;

-- name: pipeline_jobs
-- params: SELECT id FROM ci.pipelines ORDER BY md5(id::text || 'p') LIMIT 100
SELECT id, name, status, queue, duration_ms
  FROM ci.jobs
 WHERE pipeline_id = $1
 ORDER BY id;

-- name: latest_on_ref
-- The badge: a project's latest pipeline on a branch, the project named by its slug.
-- params: SELECT p.slug, r.ref FROM ci.projects p CROSS JOIN (VALUES ('main'), ('release')) r(ref)
--          ORDER BY md5(p.slug || r.ref) LIMIT 100
SELECT id, sha, status, created_at
  FROM ci.pipelines
 WHERE project_id = (SELECT id FROM ci.projects WHERE slug = $1) AND ref = $2
 ORDER BY created_at DESC
 LIMIT 1;

-- name: project_pipelines
-- A project's pipelines, newest first, pages 1 and 2.
-- params: SELECT p.id, o.off FROM ci.projects p CROSS JOIN (VALUES (0), (25)) o(off)
--          ORDER BY md5(p.id::text || o.off) LIMIT 100
SELECT id, ref, status, created_at
  FROM ci.pipelines
 WHERE project_id = $1
 ORDER BY created_at DESC
 LIMIT 25 OFFSET $2;

-- name: runner_jobs
-- What a runner is running now (its heartbeat).
-- params: SELECT g FROM generate_series(1, 300) g ORDER BY md5(g::text) LIMIT 100
SELECT id, pipeline_id, name
  FROM ci.jobs
 WHERE runner_id = $1 AND status = 'running';

-- name: pipeline_artifacts
-- params: SELECT id FROM ci.pipelines ORDER BY md5(id::text || 'a') LIMIT 100
SELECT a.path, a.size_bytes
  FROM ci.artifacts a
 WHERE a.job_id IN (SELECT j.id FROM ci.jobs j WHERE j.pipeline_id = $1);

-- name: expired_artifacts
-- The cleaner's next batch.
SELECT id, path
  FROM ci.artifacts
 WHERE expire_at < now()
 ORDER BY expire_at
 LIMIT 500;

-- name: failed_deploys
-- The dashboard: failed production deploys of the last week.
SELECT id, pipeline_id, created_at
  FROM ci.jobs
 WHERE name = 'deploy:production' AND status = 'failed' AND created_at > now() - interval '7 days'
 ORDER BY created_at DESC;
