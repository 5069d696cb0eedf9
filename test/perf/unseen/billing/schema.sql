-- A multi-tenant invoicing service: tenants, their customers, invoices and their lines, payments
-- from card providers, and an audit log of every change.
CREATE SCHEMA billing;
CREATE TABLE billing.tenants (
  id int PRIMARY KEY,
  name text NOT NULL,
  plan text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE billing.customers (
  id bigint PRIMARY KEY,
  tenant_id int NOT NULL,
  external_id text NOT NULL,
  email text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE billing.invoices (
  id bigint PRIMARY KEY,
  tenant_id int NOT NULL,
  customer_id bigint NOT NULL,
  number text NOT NULL,
  status text NOT NULL,
  amount_cents bigint NOT NULL,
  currency text NOT NULL,
  issued_at timestamptz NOT NULL,
  due_at timestamptz NOT NULL,
  paid_at timestamptz
);
CREATE TABLE billing.invoice_lines (
  id bigint PRIMARY KEY,
  invoice_id bigint NOT NULL,
  product_code text NOT NULL,
  quantity int NOT NULL,
  amount_cents bigint NOT NULL
);
CREATE TABLE billing.payments (
  id bigint PRIMARY KEY,
  invoice_id bigint NOT NULL,
  provider text NOT NULL,
  provider_ref text NOT NULL,
  amount_cents bigint NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE billing.audit_log (
  id bigint PRIMARY KEY,
  tenant_id int NOT NULL,
  entity_type text NOT NULL,
  entity_id bigint NOT NULL,
  action text NOT NULL,
  at timestamptz NOT NULL,
  payload jsonb
);

INSERT INTO billing.tenants
SELECT g, 'tenant ' || g, (ARRAY['free', 'team', 'business', 'enterprise'])[1 + g % 4], now() - g * interval '1 day'
  FROM generate_series(1, 1000) g;

-- Tenants are not alike: the low ids have most of the customers.
INSERT INTO billing.customers
SELECT g, 1 + ((g % 1000) * (g % 1000) / 1000)::int, 'cus_' || left(md5(g::text), 16), 'c' || g || '@example.com',
       now() - (300000 - g) * interval '100 seconds'
  FROM generate_series(1, 300000) g;

-- Five invoices a customer over a year. Most are paid; the newest tenth are open, some old ones are
-- still open (overdue), one in twenty is void.
INSERT INTO billing.invoices
SELECT g, 1 + ((c % 1000) * (c % 1000) / 1000)::int, c, 'INV-' || lpad(g::text, 8, '0'),
       CASE WHEN g % 20 = 0 THEN 'void' WHEN g > 1350000 OR g % 50 = 1 THEN 'open' ELSE 'paid' END,
       100 * (1 + g * 7 % 5000), (ARRAY['eur', 'usd', 'gbp'])[1 + (g % 3)::int],
       i, i + interval '30 days',
       CASE WHEN g % 20 = 0 OR g > 1350000 OR g % 50 = 1 THEN NULL ELSE i + (g % 25) * interval '1 day' END
  FROM generate_series(1, 1500000) g,
       LATERAL (SELECT 1 + (g::bigint * 7919 % 300000) AS c, now() - (1500000 - g) * interval '20 seconds' AS i) x;

INSERT INTO billing.invoice_lines
SELECT g, 1 + (g - 1) / 2, 'SKU-' || (g % 300), 1 + (g % 5)::int, 100 * (1 + g % 900)
  FROM generate_series(1, 3000000) g;

-- The paid invoices' payments.
INSERT INTO billing.payments
SELECT row_number() OVER (), id, (ARRAY['stripe', 'adyen', 'paypal'])[1 + (id % 3)::int], 'pi_' || md5(id::text),
       amount_cents, paid_at
  FROM billing.invoices WHERE paid_at IS NOT NULL;

INSERT INTO billing.audit_log
SELECT g, 1 + ((g % 1000) * (g % 1000) / 1000)::int, (ARRAY['invoice', 'customer', 'payment'])[1 + (g % 3)::int],
       1 + (g::bigint * 7919 % 1500000), (ARRAY['create', 'update', 'send', 'pay'])[1 + (g % 4)::int],
       now() - (2000000 - g) * interval '15 seconds', jsonb_build_object('by', g % 5000)
  FROM generate_series(1, 2000000) g;

-- The foreign keys, added once the rows are in.
ALTER TABLE billing.customers ADD FOREIGN KEY (tenant_id) REFERENCES billing.tenants;
ALTER TABLE billing.invoices ADD FOREIGN KEY (tenant_id) REFERENCES billing.tenants, ADD FOREIGN KEY (customer_id) REFERENCES billing.customers;
ALTER TABLE billing.invoice_lines ADD FOREIGN KEY (invoice_id) REFERENCES billing.invoices;
ALTER TABLE billing.payments ADD FOREIGN KEY (invoice_id) REFERENCES billing.invoices;
ANALYZE;
