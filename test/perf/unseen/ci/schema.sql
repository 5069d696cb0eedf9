-- A CI service's job queue: projects, their pipelines, each pipeline's jobs (the first job of a
-- pipeline is the parent of the others), and the artifacts that build and package jobs leave.
CREATE SCHEMA ci;
CREATE TABLE ci.projects (
  id int PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  owner_id int NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE ci.pipelines (
  id bigint PRIMARY KEY,
  project_id int NOT NULL,
  ref text NOT NULL,
  sha text NOT NULL,
  status text NOT NULL,
  created_at timestamptz NOT NULL,
  finished_at timestamptz
);
CREATE TABLE ci.jobs (
  id bigint PRIMARY KEY,
  pipeline_id bigint NOT NULL,
  parent_job bigint,
  name text NOT NULL,
  queue text NOT NULL,
  status text NOT NULL,
  priority int NOT NULL,
  run_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  runner_id int,
  duration_ms int
);
CREATE TABLE ci.artifacts (
  id bigint PRIMARY KEY,
  job_id bigint NOT NULL,
  path text NOT NULL,
  size_bytes bigint NOT NULL,
  expire_at timestamptz
);

INSERT INTO ci.projects
SELECT g, 'org-' || (g % 150) || '/repo-' || g, 1 + g % 700, now() - (g % 900) * interval '1 day'
  FROM generate_series(1, 2000) g;

-- 300,000 pipelines over a year, oldest first; half on main, a tenth on release, the rest on branches.
INSERT INTO ci.pipelines
SELECT g, 1 + (g::bigint * 7919 % 2000)::int,
       CASE WHEN g % 10 < 5 THEN 'main' WHEN g % 10 = 5 THEN 'release' ELSE 'feature-' || (g % 400) END,
       md5(g::text),
       CASE WHEN g > 299700 THEN 'running' WHEN g % 7 = 0 THEN 'failed' ELSE 'success' END,
       now() - (300000 - g) * interval '105 seconds',
       CASE WHEN g > 299700 THEN NULL ELSE now() - (300000 - g) * interval '105 seconds' + interval '9 minutes' END
  FROM generate_series(1, 300000) g;

-- Seven jobs a pipeline, in order: the first (build) is the parent of the six others. The newest
-- jobs are still queued or running; about one job in nine failed.
INSERT INTO ci.jobs
SELECT g, p, CASE WHEN k = 0 THEN NULL ELSE g - k END,
       (ARRAY['build', 'test:unit', 'test:integration', 'lint', 'deploy:staging', 'deploy:production', 'package'])[1 + k],
       (ARRAY['default', 'linux', 'macos', 'windows', 'gpu'])[1 + (g % 5)::int],
       CASE WHEN g > 2096000 AND g % 3 = 0 THEN 'queued' WHEN g > 2096000 AND g % 3 = 1 THEN 'running'
            WHEN g % 9 = 0 THEN 'failed' ELSE 'success' END,
       (g % 3)::int,
       now() - (2100000 - g) * interval '15 seconds' + (g % 40) * interval '1 second',
       now() - (2100000 - g) * interval '15 seconds',
       CASE WHEN g > 2096000 AND g % 3 = 0 THEN NULL ELSE 1 + (g % 300)::int END,
       CASE WHEN g > 2096000 THEN NULL ELSE 1000 + (g * 37 % 600000)::int END
  FROM generate_series(1, 2100000) g,
       LATERAL (SELECT 1 + (g - 1) / 7 AS p, (g - 1) % 7 AS k) x;

-- Each build (first) and package (last) job leaves one artifact, kept 30 days, or forever (one in ten).
INSERT INTO ci.artifacts
SELECT g, j, 'dist/' || j || CASE WHEN g % 2 = 0 THEN '/package.tar.gz' ELSE '/build.zip' END,
       1000 + (g::bigint * 7919 % 50000000),
       CASE WHEN g % 10 = 0 THEN NULL ELSE now() - (600000 - g) * interval '52 seconds' + interval '30 days' END
  FROM generate_series(1, 600000) g,
       LATERAL (SELECT 1 + ((g - 1) / 2) * 7 + ((g - 1) % 2) * 6 AS j) x;
-- The foreign keys, added once the rows are in.
ALTER TABLE ci.pipelines ADD FOREIGN KEY (project_id) REFERENCES ci.projects;
ALTER TABLE ci.jobs ADD FOREIGN KEY (pipeline_id) REFERENCES ci.pipelines, ADD FOREIGN KEY (parent_job) REFERENCES ci.jobs;
ALTER TABLE ci.artifacts ADD FOREIGN KEY (job_id) REFERENCES ci.jobs;
ANALYZE;
