-- The audit log in pages: the entries a gateway wrote together (every 100 ms) in one row, as
-- JSON lines, instead of a row and two index entries an entry; the tokens' daily limits count
-- from the requests each token made each minute (added to by every gateway on the database).
CREATE TABLE gateway_audit_page (
    id BIGSERIAL PRIMARY KEY,
    first_ms BIGINT NOT NULL,
    last_ms BIGINT NOT NULL,
    entries BIGINT NOT NULL,
    lines TEXT NOT NULL
);
CREATE INDEX gateway_audit_page_by_time ON gateway_audit_page (last_ms);
CREATE TABLE gateway_usage (
    token TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL,
    PRIMARY KEY (token, minute)
);
-- The entries of layout 1 move into pages, a page a day, and their counted requests into the
-- daily counts.
INSERT INTO gateway_usage (token, minute, requests)
    SELECT token, at_ms / 60000, COUNT(*) FROM gateway_audit WHERE counted
    GROUP BY token, at_ms / 60000;
INSERT INTO gateway_audit_page (first_ms, last_ms, entries, lines)
    SELECT MIN(at_ms), MAX(at_ms), COUNT(*),
        string_agg(
            json_build_object('at_ms', at_ms, 'token', token, 'endpoint', endpoint,
                'resources', resources, 'outcome', outcome, 'counted', counted)::TEXT,
            E'\n' ORDER BY at_ms, id) || E'\n'
    FROM gateway_audit GROUP BY at_ms / 86400000;
DROP TABLE gateway_audit;
