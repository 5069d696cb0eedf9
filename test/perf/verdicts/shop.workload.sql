-- name: customer_recent_orders
-- params: SELECT 1 + (g * 31) % 20000 FROM generate_series(1, 20) g
SELECT id, "createdAt", total FROM sales.orders WHERE "customerId" = $1 ORDER BY "createdAt" DESC LIMIT 10;

-- name: coupon_orders_by_channel
-- Example: how many app orders used a coupon.
-- params: SELECT (ARRAY['web', 'app', 'store'])[1 + g % 3] FROM generate_series(1, 12) g
SELECT count(*) FROM sales.orders WHERE attrs @> jsonb_build_object('channel', $1::text, 'coupon', true);

-- name: daily_revenue
-- A day's revenue: a narrow range.
-- params: SELECT timestamptz '2025-01-01' + g * interval '3 days' FROM generate_series(1, 20) g
SELECT sum(total) FROM sales.orders WHERE "createdAt" >= $1::timestamptz AND "createdAt" < $1::timestamptz + interval '1 day';

-- name: quarter_revenue
-- A wide range (about a fifth of the orders): the index helps only a little.
-- params: SELECT timestamptz '2025-01-01' + g * interval '5 days' FROM generate_series(1, 20) g
SELECT sum(total) FROM sales.orders WHERE "createdAt" >= $1::timestamptz AND "createdAt" < $1::timestamptz + interval '55 days';

-- name: country_customers
SELECT country, count(*) FROM crm.customers GROUP BY country;
