-- One order per transaction, as a frontend sends it (PostgREST: one request,
-- one INSERT, one commit): a paid EUR order of a random contact, whose
-- company is found from the contact's primary one.  The same script runs
-- with a contact and a company rollup over orders defined and with none
-- (bench/cases/single_rows.sh).
\set contact random(1, :ncontacts)
INSERT INTO crm.orders (contact_id, value, currency, status) VALUES (:contact, 10, 'EUR', 'paid');
