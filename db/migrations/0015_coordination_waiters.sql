-- 0015_coordination_waiters
-- The event bus notifies only when a consumer waits. A transaction that sends NOTIFY holds a
-- cluster-wide lock from its pre-commit through its commit record's flush, so publishers that
-- all notified committed one at a time (no group commit); now a publish notifies a
-- subscription only while one of its consumers is registered as waiting, and takes that
-- registration, so the next publishes do not notify until a consumer waits again.

-- Registrations live in memory and on local disk only: they outlive no crash (nobody waits
-- after one), and registering writes no WAL, so it costs no commit flush.
CREATE UNLOGGED TABLE event_waiters (
    subscription_id  bigint NOT NULL,
    backend_pid      integer NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, backend_pid)
);

CREATE TRIGGER event_waiters_set_updated_at BEFORE UPDATE ON event_waiters
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE event_waiters IS
    'Consumers blocked in events.wait (LISTEN forge_db_events), one row per subscription and backend, registered under the exclusive advisory lock (1701147252, subscription id) that orders them against publishers (events_fan_out). A publish that finds a live row notifies the subscription and deletes the rows it could lock. Unlogged, without a foreign key (a key lock on the subscription would be logged): a row of a deleted subscription or of a waiter that died only lets a publish notify until expires_at.';
COMMENT ON COLUMN event_waiters.backend_pid IS 'The waiting session''s server process (pg_backend_pid()).';
COMMENT ON COLUMN event_waiters.expires_at IS 'When the wait ends at the latest; later the row no longer counts.';

CREATE OR REPLACE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_subscriptions bigint[];
    v_subscription bigint;
BEGIN
    WITH queued AS (
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
    )
    SELECT array_agg(subscription_id) INTO v_subscriptions FROM queued;
    IF v_subscriptions IS NULL THEN
        RETURN NULL;
    END IF;
    -- Held until this transaction ends; a waiter registers under the exclusive lock. So either
    -- the waiter registered first, and the next statement (a new snapshot, under read
    -- committed) sees it, or the waiter registers after this transaction ended and its first
    -- look finds these deliveries.
    PERFORM pg_advisory_xact_lock_shared(1701147252, (s % 2147483648)::integer)
       FROM unnest(v_subscriptions) AS s;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- One snapshot for the whole transaction, older than the lock: a registration made
        -- meanwhile is not seen, so every subscription is told.
        FOR v_subscription IN SELECT DISTINCT s FROM unnest(v_subscriptions) AS s LOOP
            PERFORM pg_notify('forge_db_events', v_subscription::text);
        END LOOP;
        RETURN NULL;
    END IF;
    -- A live row is told about, whether or not this publish takes it: a row another publish
    -- has locked may come back if that publish rolls back.
    FOR v_subscription IN
        WITH live AS (
            SELECT w.subscription_id, w.backend_pid
              FROM event_waiters AS w
             WHERE w.subscription_id = ANY (v_subscriptions)
               AND w.expires_at > clock_timestamp()
        ), taken AS (
            SELECT w.subscription_id, w.backend_pid
              FROM event_waiters AS w JOIN live USING (subscription_id, backend_pid)
               FOR UPDATE OF w SKIP LOCKED
        ), cleared AS (
            DELETE FROM event_waiters AS w USING taken
             WHERE (w.subscription_id, w.backend_pid) = (taken.subscription_id, taken.backend_pid)
        )
        SELECT DISTINCT subscription_id FROM live
    LOOP
        PERFORM pg_notify('forge_db_events', v_subscription::text);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION events_fan_out() IS
    'AFTER INSERT row trigger on events: queues a delivery for every active subscription whose topic pattern, repository and source filter match, and notifies channel forge_db_events with the subscription id when a consumer of it waits (a live event_waiters row, taken by the publish) or the publisher''s snapshot is older than its lock (repeatable read, serializable).';
