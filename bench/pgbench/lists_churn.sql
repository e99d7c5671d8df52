-- A contact's seats rewritten to a random whole number: the 100 filters all
-- read seats, so memberships come and go.
\set id random(:first_contact, :last_contact)
\set seats random(0, 49)
UPDATE crm.contacts SET properties = jsonb_set(properties, '{seats}', to_jsonb(:seats::int)) WHERE id = :id;
