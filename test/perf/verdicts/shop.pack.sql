CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_recent_idx ON sales.orders ("customerId", "createdAt" DESC);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_attrs_idx ON sales.orders USING gin (attrs jsonb_path_ops);
CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_created_idx ON sales.orders ("createdAt") INCLUDE (total);
