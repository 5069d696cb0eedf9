CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_posted_amount_idx ON ledger ("postedOn") INCLUDE (amount);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ledger_narrow_posted_amount_idx ON ledger_narrow ("postedOn") INCLUDE (amount);
