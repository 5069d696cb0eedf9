-- name: sum_45pct
-- params: SELECT 135000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger WHERE "postedOn" <= $1;

-- name: sum_60pct
-- params: SELECT 180000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger WHERE "postedOn" <= $1;

-- name: sum_75pct
-- params: SELECT 225000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger WHERE "postedOn" <= $1;

-- name: sum_90pct
-- params: SELECT 270000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger WHERE "postedOn" <= $1;

-- name: narrow_sum_75pct
-- params: SELECT 225000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger_narrow WHERE "postedOn" <= $1;

-- name: narrow_sum_90pct
-- params: SELECT 270000 + g FROM generate_series(1, 10) g
SELECT sum(amount) FROM ledger_narrow WHERE "postedOn" <= $1;
