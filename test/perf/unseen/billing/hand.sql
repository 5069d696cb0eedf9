-- The invoicing service's indexes, written by hand for workload.sql (before advise was run on it).

-- customer_by_external_id and open_balance: the tenant's own id for a customer.
CREATE INDEX CONCURRENTLY IF NOT EXISTS customers_tenant_external ON billing.customers (tenant_id, external_id);

-- overdue: open invoices are a tenth; per tenant, oldest due first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_open_due ON billing.invoices (tenant_id, due_at) WHERE status = 'open';

-- customer_invoices, customer_payments and open_balance: a customer's invoices, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_customer_issued ON billing.invoices (customer_id, issued_at DESC);

-- invoice_lines: the foreign key's other side.
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoice_lines_invoice ON billing.invoice_lines (invoice_id);

-- payment_webhook: a provider's reference is unique in practice.
CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_provider_ref ON billing.payments (provider_ref);

-- customer_payments: the foreign key's other side.
CREATE INDEX CONCURRENTLY IF NOT EXISTS payments_invoice ON billing.payments (invoice_id);

-- entity_history: one entity's changes, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_log_entity ON billing.audit_log (tenant_id, entity_type, entity_id, at DESC);

-- invoice_by_number: numbers are per tenant.
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_tenant_number ON billing.invoices (tenant_id, number);

-- revenue_30d: a tenant's paid invoices by payment date.
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_tenant_paid ON billing.invoices (tenant_id, paid_at);
