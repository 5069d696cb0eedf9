-- login: sign-in compares lower(email) = lower($1). users_email_key (the unique constraint)
-- is on email itself, so the planner cannot use it for lower(email): an expression index.
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_users_email_lower ON users (lower(email));
