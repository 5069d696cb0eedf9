-- A shop in two schemas: customers in crm, orders in sales.
CREATE SCHEMA crm;
CREATE SCHEMA sales;
CREATE TABLE crm.customers (id int PRIMARY KEY, country text NOT NULL, "signedUpAt" timestamptz NOT NULL);
CREATE TABLE sales.orders (
  id bigserial PRIMARY KEY,
  "customerId" int NOT NULL REFERENCES crm.customers (id),
  "createdAt" timestamptz NOT NULL,
  total numeric(12, 2) NOT NULL,
  tags text[] NOT NULL,
  attrs jsonb NOT NULL
);
INSERT INTO crm.customers SELECT g, (ARRAY['de', 'fr', 'us', 'jp', 'br'])[1 + g % 5], timestamptz '2024-01-01' + g * interval '10 minutes' FROM generate_series(1, 20000) g;
INSERT INTO sales.orders ("customerId", "createdAt", total, tags, attrs)
SELECT 1 + (g::bigint * 104729) % 20000, timestamptz '2025-01-01' + g * interval '2 minutes', (g % 500) + 0.99,
       ARRAY[(ARRAY['gift', 'express', 'bulk', 'promo'])[1 + g % 4]],
       jsonb_build_object('channel', (ARRAY['web', 'app', 'store'])[1 + g % 3], 'coupon', g % 37 = 0)
  FROM generate_series(1, 200000) g;
ANALYZE crm.customers;
ANALYZE sales.orders;
