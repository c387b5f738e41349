-- 0011_coordination_bus
-- The coordination domain's operations: the event bus (source, correlation id, priority,
-- claims with fencing tokens, replay of dead deliveries, LISTEN/NOTIFY wake-ups), wait-for
-- edges between lease holders for deadlock detection, human decisions with a timeout and a
-- default, rate limiting in one call, alert counts, and the history of commit statuses.

-- --- events ----------------------------------------------------------------------------------

ALTER TABLE events
    ADD COLUMN source text,
    ADD COLUMN correlation_id text,
    ADD COLUMN priority smallint NOT NULL DEFAULT 0,
    ADD CONSTRAINT events_source_check
        CHECK (char_length(source) BETWEEN 1 AND 255 AND source !~ '[[:cntrl:]]'),
    ADD CONSTRAINT events_correlation_id_check
        CHECK (char_length(correlation_id) BETWEEN 1 AND 255 AND correlation_id !~ '[[:cntrl:]]'),
    ADD CONSTRAINT events_priority_check CHECK (priority BETWEEN -100 AND 100);

CREATE INDEX events_correlation_id_idx ON events (correlation_id, id) WHERE correlation_id IS NOT NULL;

COMMENT ON COLUMN events.source IS 'Who published the event (a component or agent name); subscriptions may filter on it.';
COMMENT ON COLUMN events.correlation_id IS 'Ties together the events of one piece of work across components.';
COMMENT ON COLUMN events.priority IS 'Higher is taken first by consumers (-100..100); equal priorities go in event order.';

ALTER TABLE event_subscriptions
    ADD COLUMN source_filter text,
    ADD CONSTRAINT event_subscriptions_source_filter_check
        CHECK (char_length(source_filter) BETWEEN 1 AND 255 AND source_filter !~ '[[:cntrl:]]');

COMMENT ON COLUMN event_subscriptions.source_filter IS 'When set, only events of this source are delivered.';

ALTER TABLE event_deliveries
    ADD COLUMN priority smallint NOT NULL DEFAULT 0,
    ADD COLUMN claimed_by text,
    ADD COLUMN fencing_token bigint,
    ADD CONSTRAINT event_deliveries_claimed_by_check
        CHECK (char_length(claimed_by) BETWEEN 1 AND 255 AND claimed_by !~ '[[:cntrl:]]'),
    ADD CONSTRAINT event_deliveries_claim_check
        CHECK (state <> 'in_flight' OR (claimed_by IS NOT NULL AND fencing_token IS NOT NULL));

-- Consumers take deliveries by priority, then in event order (UUIDv7 ids are time-ordered).
CREATE INDEX event_deliveries_take_idx
    ON event_deliveries (subscription_id, priority DESC, event_id) WHERE state IN ('pending', 'in_flight');
CREATE INDEX event_deliveries_dead_idx ON event_deliveries (subscription_id, event_id) WHERE state = 'dead';
-- Purging acknowledged deliveries, oldest first.
CREATE INDEX event_deliveries_acked_idx ON event_deliveries (acked_at) WHERE state = 'acked';

COMMENT ON COLUMN event_deliveries.priority IS 'The event''s priority, copied so that taking in priority order reads one index.';
COMMENT ON COLUMN event_deliveries.claimed_by IS 'The consumer that took the delivery last.';
COMMENT ON COLUMN event_deliveries.fencing_token IS 'From lease_fencing_tokens at each take; ack and nack present it, so a consumer whose visibility timeout ran out cannot acknowledge its successor''s delivery.';

-- Replay: a dead delivery may be queued again.
DROP TRIGGER event_deliveries_state_transition ON event_deliveries;
CREATE TRIGGER event_deliveries_state_transition BEFORE UPDATE OF state ON event_deliveries
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>in_flight', 'in_flight>acked', 'in_flight>pending', 'in_flight>dead', 'pending>dead',
        'dead>pending');

-- The same fan-out, with the subscription's source filter and the event's priority, and a
-- notification on channel forge_db_events (payload: the subscription id) for each delivery,
-- sent when the publisher commits, so that waiting consumers wake without polling.
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


-- --- leases: wait-for edges ------------------------------------------------------------------

CREATE TABLE lease_waits (
    waiter      text NOT NULL,
    lease_name  text NOT NULL REFERENCES leases (name) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (waiter, lease_name),
    CONSTRAINT lease_waits_waiter_check CHECK (char_length(waiter) BETWEEN 1 AND 255 AND waiter !~ '[[:cntrl:]]'),
    CONSTRAINT lease_waits_lease_name_check CHECK (char_length(lease_name) BETWEEN 1 AND 255),
    CONSTRAINT lease_waits_expiry_check CHECK (expires_at > created_at)
);

CREATE INDEX lease_waits_lease_name_idx ON lease_waits (lease_name);
CREATE INDEX lease_waits_expires_at_idx ON lease_waits (expires_at);

CREATE TRIGGER lease_waits_set_updated_at BEFORE UPDATE ON lease_waits
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE lease_waits IS
    'Wait-for edges: waiter waits for the lease lease_name, so for whoever holds it (read from leases, so a takeover moves the edge to the new holder). An edge goes away with the lease (released: CASCADE; expired: ignored), when the waiter gets the lease (leases_forget_granted_waits), or when the wait itself expires.';
COMMENT ON COLUMN lease_waits.expires_at IS 'The waiter gives up after this; the edge no longer counts.';

CREATE FUNCTION leases_forget_granted_waits() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM lease_waits WHERE lease_name = NEW.name AND waiter = NEW.holder;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION leases_forget_granted_waits() IS
    'AFTER INSERT OR UPDATE row trigger on leases: the new holder no longer waits for the lease it now holds.';

CREATE TRIGGER leases_forget_granted_waits AFTER INSERT OR UPDATE OF holder ON leases
    FOR EACH ROW EXECUTE FUNCTION leases_forget_granted_waits();


-- --- leases: tokens in grant order -----------------------------------------------------------

-- The same function and meaning, fixed so that tokens grow in the order acquisitions are
-- granted (the signature, which other domains call, is unchanged).
CREATE OR REPLACE FUNCTION lease_acquire(p_name text, p_holder text, p_ttl interval)
RETURNS TABLE (fencing_token bigint, holder text, expires_at timestamptz, acquired boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'ttl', MESSAGE = 'ttl: must be positive';
    END IF;
    -- Acquisitions of one name take turns, so that each draws its token after the previous
    -- one committed: without this, a token drawn for an INSERT that then waited (or found the
    -- row released meanwhile) could be granted after a larger one.
    PERFORM pg_advisory_xact_lock(1818583411, hashtext(p_name));
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
    'Take the lease p_name for p_holder until now() + p_ttl: free or expired, it is taken with a new fencing token, larger than that of every earlier acquisition of any lease; already held by p_holder, it is renewed and keeps its token; held by another, nothing changes and the current holder is returned with acquired = false. Acquisitions of one name are serialised on an advisory transaction lock (class 1818583411, hashtext(name)).';


-- --- decisions -------------------------------------------------------------------------------

CREATE TABLE decisions (
    id              uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id   bigint REFERENCES repositories (id) ON DELETE CASCADE,
    decision_type   text NOT NULL,
    summary         text NOT NULL,
    options         text[] NOT NULL,
    default_option  text NOT NULL,
    context         jsonb NOT NULL DEFAULT '{}',
    requested_by    text,
    state           text NOT NULL DEFAULT 'pending',
    choice          text,
    decided_by_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    decided_at      timestamptz,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT decisions_decision_type_check CHECK (decision_type ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    CONSTRAINT decisions_summary_check
        CHECK (char_length(summary) BETWEEN 1 AND 4096 AND btrim(summary) <> ''),
    CONSTRAINT decisions_options_check
        CHECK (cardinality(options) BETWEEN 1 AND 50 AND array_position(options, NULL) IS NULL
               AND char_length(array_to_string(options, ',')) <= 10000),
    CONSTRAINT decisions_default_option_check
        CHECK (char_length(default_option) <= 255 AND default_option = ANY (options)),
    CONSTRAINT decisions_context_check
        CHECK (jsonb_typeof(context) = 'object' AND octet_length(context::text) <= 65536),
    CONSTRAINT decisions_requested_by_check
        CHECK (char_length(requested_by) BETWEEN 1 AND 255 AND requested_by !~ '[[:cntrl:]]'),
    CONSTRAINT decisions_state_check CHECK (state IN ('pending', 'decided', 'auto_resolved', 'cancelled')),
    CONSTRAINT decisions_choice_check CHECK (char_length(choice) <= 255 AND choice = ANY (options)),
    CONSTRAINT decisions_resolved_check
        CHECK ((state IN ('decided', 'auto_resolved')) = (choice IS NOT NULL)
               AND (state = 'pending') = (decided_at IS NULL)
               AND (decided_by_id IS NULL OR state = 'decided')),
    CONSTRAINT decisions_expiry_check CHECK (expires_at > created_at)
);

CREATE INDEX decisions_pending_idx ON decisions (created_at, id) WHERE state = 'pending';
CREATE INDEX decisions_due_idx ON decisions (expires_at) WHERE state = 'pending';
CREATE INDEX decisions_repository_id_idx ON decisions (repository_id, created_at) WHERE repository_id IS NOT NULL;
CREATE INDEX decisions_decided_by_id_idx ON decisions (decided_by_id) WHERE decided_by_id IS NOT NULL;

CREATE TRIGGER decisions_set_updated_at BEFORE UPDATE ON decisions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER decisions_state_transition BEFORE UPDATE OF state ON decisions
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>decided', 'pending>auto_resolved', 'pending>cancelled');

COMMENT ON TABLE decisions IS
    'Questions that wait for a human: pending until someone decides (exactly once) or, past expires_at, the sweeper resolves them to default_option (auto_resolved). pending -> decided | auto_resolved | cancelled; all three are final.';
COMMENT ON COLUMN decisions.options IS 'The allowed choices; default_option and choice are among them.';
COMMENT ON COLUMN decisions.context IS 'What the human needs to decide (links, diffs, costs), as JSON.';
COMMENT ON COLUMN decisions.requested_by IS 'The agent or component that asked.';


-- --- rate limits -----------------------------------------------------------------------------

CREATE FUNCTION rate_limit_hit(p_key text, p_limit integer, p_period interval, p_cost integer)
RETURNS TABLE (allowed boolean, remaining integer, reset_at timestamptz, retry_after double precision)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_rate numeric := p_limit / extract(epoch FROM p_period);
    v_tokens numeric;
    v_at timestamptz;
    v_now timestamptz := clock_timestamp();
BEGIN
    IF p_limit IS NULL OR p_limit < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'limit', MESSAGE = 'limit: must be at least 1';
    END IF;
    IF p_period IS NULL OR p_period <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'period', MESSAGE = 'period: must be positive';
    END IF;
    IF p_cost IS NULL OR p_cost < 0 OR p_cost > p_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'cost', MESSAGE = 'cost: must be from 0 to the limit';
    END IF;
    -- The upsert locks the bucket's row: concurrent hits on one key queue here, one at a time.
    INSERT INTO rate_limits AS r (key, capacity, refill_rate, tokens, refilled_at)
    VALUES (p_key, p_limit, v_rate, p_limit, v_now)
    ON CONFLICT (key) DO UPDATE SET
        capacity = EXCLUDED.capacity,
        refill_rate = EXCLUDED.refill_rate,
        tokens = least(r.tokens, EXCLUDED.capacity)
    RETURNING r.tokens, r.refilled_at INTO v_tokens, v_at;
    v_at := greatest(v_at, v_now - p_period);
    v_tokens := least(p_limit, v_tokens + greatest(0, extract(epoch FROM v_now - v_at)) * v_rate);
    allowed := v_tokens >= p_cost;
    IF allowed THEN
        v_tokens := v_tokens - p_cost;
    END IF;
    UPDATE rate_limits SET tokens = v_tokens, refilled_at = greatest(v_now, refilled_at) WHERE key = p_key;
    remaining := floor(v_tokens)::integer;
    reset_at := v_now + make_interval(secs => ((p_limit - v_tokens) / v_rate)::double precision);
    retry_after := CASE WHEN allowed THEN 0 ELSE ((p_cost - v_tokens) / v_rate)::double precision END;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION rate_limit_hit(text, integer, interval, integer) IS
    'Take p_cost tokens from the bucket p_key (capacity p_limit, refilled at p_limit per p_period): allowed, tokens left (floor), when the bucket is full again, and seconds until p_cost tokens are there (0 when allowed). Concurrent hits on one key serialise on its row.';


-- --- alerts ----------------------------------------------------------------------------------

ALTER TABLE alerts
    ADD COLUMN occurrences integer NOT NULL DEFAULT 1,
    ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT alerts_occurrences_check CHECK (occurrences >= 1);

-- Firing alerts by severity, most recent first.
CREATE INDEX alerts_open_idx ON alerts (state, severity, last_seen_at) WHERE state <> 'resolved';

COMMENT ON COLUMN alerts.occurrences IS 'How many times the condition fired while this alert was open.';
COMMENT ON COLUMN alerts.last_seen_at IS 'When the condition fired last.';


-- --- commit statuses: history ----------------------------------------------------------------

CREATE TABLE commit_status_history (
    id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    commit_id      text COLLATE "C" NOT NULL,
    context        text NOT NULL,
    state          text NOT NULL,
    description    text NOT NULL,
    target_url     text,
    creator_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commit_status_history_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT commit_status_history_context_check
        CHECK (char_length(context) BETWEEN 1 AND 255 AND context !~ '[[:cntrl:]]'),
    CONSTRAINT commit_status_history_state_check CHECK (state IN ('pending', 'success', 'failure', 'error')),
    CONSTRAINT commit_status_history_description_check CHECK (char_length(description) <= 1024),
    CONSTRAINT commit_status_history_target_url_check CHECK (char_length(target_url) <= 2048)
);

CREATE INDEX commit_status_history_commit_idx ON commit_status_history (repository_id, commit_id, context, id);
CREATE INDEX commit_status_history_creator_id_idx ON commit_status_history (creator_id) WHERE creator_id IS NOT NULL;

CREATE TRIGGER commit_status_history_set_updated_at BEFORE UPDATE ON commit_status_history
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE commit_status_history IS
    'Every status ever reported for a (repository, commit, context), in report order; commit_statuses holds the latest of each. Written by the commit_statuses_keep_history trigger only; changed only when the reporting account is deleted (SET NULL).';

CREATE FUNCTION commit_statuses_keep_history() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO commit_status_history (repository_id, commit_id, context, state, description,
                                       target_url, creator_id)
    VALUES (NEW.repository_id, NEW.commit_id, NEW.context, NEW.state, NEW.description,
            NEW.target_url, NEW.creator_id);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION commit_statuses_keep_history() IS
    'AFTER INSERT OR UPDATE row trigger on commit_statuses: appends the reported status to commit_status_history.';

CREATE TRIGGER commit_statuses_keep_history
    AFTER INSERT OR UPDATE OF state, description, target_url, creator_id ON commit_statuses
    FOR EACH ROW EXECUTE FUNCTION commit_statuses_keep_history();
