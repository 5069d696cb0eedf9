-- The invoicing service's hot queries, as its application sends them.

-- name: customer_by_external_id
-- The API looks a customer up by the tenant's own id for it.
-- params: SELECT tenant_id, external_id FROM billing.customers ORDER BY md5(id::text) LIMIT 100
SELECT id, email, created_at
  FROM billing.customers
 WHERE tenant_id = $1 AND external_id = $2;

-- name: overdue
-- The dunning job, tenant by tenant.
-- params: SELECT id FROM billing.tenants ORDER BY md5(id::text) LIMIT 100
SELECT id, customer_id, amount_cents, due_at
  FROM billing.invoices
 WHERE tenant_id = $1 AND status = 'open' AND due_at < now()
 ORDER BY due_at
 LIMIT 100;

-- name: customer_invoices
-- params: SELECT id FROM billing.customers ORDER BY md5(id::text || 'i') LIMIT 100
SELECT id, number, status, amount_cents, issued_at
  FROM billing.invoices
 WHERE customer_id = $1
 ORDER BY issued_at DESC
 LIMIT 20;

-- name: invoice_lines
-- params: SELECT id FROM billing.invoices ORDER BY md5(id::text) LIMIT 100
SELECT product_code, quantity, amount_cents
  FROM billing.invoice_lines
 WHERE invoice_id = $1;

-- name: payment_webhook
-- A provider's webhook names its own payment id.
-- params: SELECT provider, provider_ref FROM billing.payments ORDER BY md5(id::text) LIMIT 100
SELECT id, invoice_id, amount_cents
  FROM billing.payments
 WHERE provider = $1 AND provider_ref = $2;

-- name: entity_history
-- params: SELECT tenant_id, entity_id FROM billing.audit_log WHERE entity_type = 'invoice' ORDER BY md5(id::text) LIMIT 100
SELECT action, at, payload
  FROM billing.audit_log
 WHERE tenant_id = $1 AND entity_type = 'invoice' AND entity_id = $2
 ORDER BY at DESC
 LIMIT 50;

-- name: customer_payments
-- params: SELECT id FROM billing.customers ORDER BY md5(id::text || 'p') LIMIT 100
SELECT p.id, p.amount_cents, p.created_at
  FROM billing.payments p
  JOIN billing.invoices i ON i.id = p.invoice_id
 WHERE i.customer_id = $1;

-- name: invoice_by_number
-- params: SELECT tenant_id, number FROM billing.invoices ORDER BY md5(id::text || 'n') LIMIT 100
SELECT id, status, amount_cents
  FROM billing.invoices
 WHERE tenant_id = $1 AND number = $2;

-- name: revenue_30d
-- A tenant's dashboard: money received per day over the last 30 days.
-- params: SELECT id FROM billing.tenants ORDER BY md5(id::text || 'r') LIMIT 100
SELECT date_trunc('day', paid_at) AS day, sum(amount_cents)
  FROM billing.invoices
 WHERE tenant_id = $1 AND paid_at >= now() - interval '30 days'
 GROUP BY 1
 ORDER BY 1;

-- name: open_balance
-- A customer's open balance, the customer named by the tenant's id for it.
-- params: SELECT tenant_id, external_id FROM billing.customers ORDER BY md5(id::text || 'b') LIMIT 100
SELECT coalesce(sum(amount_cents), 0)
  FROM billing.invoices
 WHERE customer_id = (SELECT id FROM billing.customers WHERE tenant_id = $1 AND external_id = $2)
   AND status = 'open';
