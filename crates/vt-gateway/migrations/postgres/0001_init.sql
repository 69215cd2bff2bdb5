-- vt-gateway's store in PostgreSQL: tokens, audit, the shared answers (the same columns as
-- vt_api::Cache's SQLite table) and the quota ledger (as vt_api::Cache keeps it in SQLite).
CREATE TABLE gateway_token (
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    allow TEXT NOT NULL,
    per_day INTEGER,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE UNIQUE INDEX gateway_token_live_name ON gateway_token (name) WHERE revoked_at_ms IS NULL;
CREATE TABLE gateway_audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    token TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    resources TEXT NOT NULL,
    outcome TEXT NOT NULL,
    counted BOOLEAN NOT NULL
);
CREATE INDEX gateway_audit_by_time ON gateway_audit (at_ms);
CREATE INDEX gateway_audit_by_token ON gateway_audit (token, at_ms);
CREATE TABLE answer (
    service TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    params TEXT NOT NULL,
    query_key TEXT NOT NULL,
    response_code BIGINT NOT NULL,
    fetched_at BIGINT NOT NULL,
    body BYTEA NOT NULL,
    alias BOOLEAN NOT NULL,
    PRIMARY KEY (service, endpoint, params, query_key)
);
CREATE TABLE quota_sent (
    id BIGSERIAL PRIMARY KEY,
    ticket BIGINT NOT NULL,
    key_fingerprint TEXT NOT NULL,
    sent_at_ms BIGINT NOT NULL
);
CREATE INDEX quota_sent_by_key ON quota_sent (key_fingerprint, sent_at_ms);
CREATE INDEX quota_sent_by_ticket ON quota_sent (ticket);
CREATE SEQUENCE quota_ticket;
CREATE TABLE quota_hold (
    key_fingerprint TEXT PRIMARY KEY,
    set_at_ms BIGINT NOT NULL,
    until_ms BIGINT NOT NULL
);
