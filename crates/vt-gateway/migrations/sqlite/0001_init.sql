-- vt-gateway's own tables in the SQLite store. The answers and the quota ledger are vt-api's
-- cache tables in the same file (vt_api::Cache): one set of cache and pacing rules.
CREATE TABLE gateway_token (
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    allow TEXT NOT NULL,
    per_day INTEGER,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);
-- One live token a name; revoked ones stay listed.
CREATE UNIQUE INDEX gateway_token_live_name ON gateway_token (name) WHERE revoked_at_ms IS NULL;
CREATE TABLE gateway_audit (
    at_ms INTEGER NOT NULL,
    token TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    resources TEXT NOT NULL,
    outcome TEXT NOT NULL,
    counted INTEGER NOT NULL
);
CREATE INDEX gateway_audit_by_time ON gateway_audit (at_ms);
CREATE INDEX gateway_audit_by_token ON gateway_audit (token, at_ms);
