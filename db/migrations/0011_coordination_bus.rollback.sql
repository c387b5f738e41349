-- Rollback of 0011_coordination_bus.

DROP TRIGGER IF EXISTS commit_statuses_keep_history ON commit_statuses;
DROP FUNCTION IF EXISTS commit_statuses_keep_history();
DROP TABLE IF EXISTS commit_status_history;

DROP INDEX IF EXISTS alerts_open_idx;
ALTER TABLE alerts
    DROP COLUMN IF EXISTS occurrences,
    DROP COLUMN IF EXISTS last_seen_at;

DROP FUNCTION IF EXISTS rate_limit_hit(text, integer, interval, integer);

DROP TABLE IF EXISTS decisions;


-- lease_acquire as 0007 made it.
CREATE OR REPLACE FUNCTION lease_acquire(p_name text, p_holder text, p_ttl interval)
RETURNS TABLE (fencing_token bigint, holder text, expires_at timestamptz, acquired boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'ttl', MESSAGE = 'ttl: must be positive';
    END IF;
    RETURN QUERY
        INSERT INTO leases AS l (name, holder, expires_at)
        VALUES (p_name, p_holder, now() + p_ttl)
        ON CONFLICT (name) DO UPDATE SET
            holder = EXCLUDED.holder,
            fencing_token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                                 THEN l.fencing_token ELSE nextval('lease_fencing_tokens') END,
            acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now()
                               THEN l.acquired_at ELSE now() END,
            expires_at = EXCLUDED.expires_at
        WHERE l.expires_at <= now() OR l.holder = EXCLUDED.holder
        RETURNING l.fencing_token, l.holder, l.expires_at, true;
    IF NOT FOUND THEN
        -- Held by someone else: report who, as of now (a fresh snapshot sees the holder).
        RETURN QUERY
            SELECT l.fencing_token, l.holder, l.expires_at, false FROM leases AS l
             WHERE l.name = p_name;
    END IF;
END
$$;

COMMENT ON FUNCTION lease_acquire(text, text, interval) IS
    'Take the lease p_name for p_holder until now() + p_ttl: free or expired, it is taken with a new, larger fencing token; already held by p_holder, it is renewed and keeps its token; held by another, nothing changes and the current holder is returned with acquired = false.';

DROP TRIGGER IF EXISTS leases_forget_granted_waits ON leases;
DROP FUNCTION IF EXISTS leases_forget_granted_waits();
DROP TABLE IF EXISTS lease_waits;

CREATE OR REPLACE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO event_deliveries (subscription_id, event_id)
    SELECT s.id, NEW.id
      FROM event_subscriptions AS s
     WHERE s.active
       AND (s.repository_id IS NULL OR s.repository_id = NEW.repository_id)
       AND (s.topic_pattern = '*'
            OR s.topic_pattern = NEW.topic
            OR (right(s.topic_pattern, 2) = '.*' AND starts_with(NEW.topic, left(s.topic_pattern, -1))));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION events_fan_out() IS
    'AFTER INSERT row trigger on events: queues a delivery for every active subscription whose topic pattern (and repository, if set) matches.';

-- Replayed deliveries are pending again; the earlier machine has no way back from dead.
DROP TRIGGER IF EXISTS event_deliveries_state_transition ON event_deliveries;
CREATE TRIGGER event_deliveries_state_transition BEFORE UPDATE OF state ON event_deliveries
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>in_flight', 'in_flight>acked', 'in_flight>pending', 'in_flight>dead', 'pending>dead');

DROP INDEX IF EXISTS event_deliveries_acked_idx;
DROP INDEX IF EXISTS event_deliveries_dead_idx;
DROP INDEX IF EXISTS event_deliveries_take_idx;
ALTER TABLE event_deliveries
    DROP COLUMN IF EXISTS fencing_token,
    DROP COLUMN IF EXISTS claimed_by,
    DROP COLUMN IF EXISTS priority;

ALTER TABLE event_subscriptions DROP COLUMN IF EXISTS source_filter;

DROP INDEX IF EXISTS events_correlation_id_idx;
ALTER TABLE events
    DROP COLUMN IF EXISTS priority,
    DROP COLUMN IF EXISTS correlation_id,
    DROP COLUMN IF EXISTS source;
