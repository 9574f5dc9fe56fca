-- Account suspension (client-server "Account suspension", PUT /admin/suspend):
-- a reversible restriction, unlike deactivation, that keeps sessions working.
ALTER TABLE users ADD COLUMN suspended boolean NOT NULL DEFAULT false;
