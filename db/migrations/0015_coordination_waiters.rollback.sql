-- Rollback of 0015_coordination_waiters: every publish notifies again, as 0011 made it.

CREATE OR REPLACE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_subscription bigint;
BEGIN
    FOR v_subscription IN
        INSERT INTO event_deliveries (subscription_id, event_id, priority)
        SELECT s.id, NEW.id, NEW.priority
          FROM event_subscriptions AS s
         WHERE s.active
           AND (s.repository_id IS NULL OR s.repository_id = NEW.repository_id)
           AND (s.source_filter IS NULL OR s.source_filter = NEW.source)
           AND (s.topic_pattern = '*'
                OR s.topic_pattern = NEW.topic
                OR (right(s.topic_pattern, 2) = '.*'
                    AND starts_with(NEW.topic, left(s.topic_pattern, -1))))
        RETURNING subscription_id
    LOOP
        PERFORM pg_notify('forge_db_events', v_subscription::text);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION events_fan_out() IS
    'AFTER INSERT row trigger on events: queues a delivery for every active subscription whose topic pattern, repository and source filter match, and notifies channel forge_db_events with the subscription id.';

DROP TABLE IF EXISTS event_waiters;
