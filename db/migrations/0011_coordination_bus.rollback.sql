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
