-- 0008_landing_queue
-- The landing queue as workers and reviewers use it: per-bookmark queues that can be paused or
-- drained, batches with lineage (bisection), fencing tokens on requests, an append-only event
-- log written by triggers, readiness computed in SQL, and the claim, finish and sweep functions
-- that keep at most one running batch per bookmark. Notifications learn to point at landing
-- requests and pull requests; protection rules learn to dismiss stale approvals.

-- --- queues ------------------------------------------------------------------------------------

CREATE TABLE landing_queues (
    repository_id    bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    bookmark         text NOT NULL,
    state            text NOT NULL DEFAULT 'open',
    reason           text NOT NULL DEFAULT '',
    changed_by_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    last_claimed_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_queues_pkey PRIMARY KEY (repository_id, bookmark),
    CONSTRAINT landing_queues_bookmark_check CHECK (is_valid_ref_name(bookmark)),
    CONSTRAINT landing_queues_state_check CHECK (state IN ('open', 'paused', 'draining')),
    CONSTRAINT landing_queues_reason_check CHECK (char_length(reason) <= 1024)
);

CREATE INDEX landing_queues_changed_by_id_idx ON landing_queues (changed_by_id)
    WHERE changed_by_id IS NOT NULL;

CREATE TRIGGER landing_queues_set_updated_at BEFORE UPDATE ON landing_queues
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE landing_queues IS
    'One landing queue per (repository, bookmark), made with its first request: open, paused (no claims; entries wait) or draining (no new entries; those present finish). Claims lock this row, so batches of one bookmark are formed one at a time.';
COMMENT ON COLUMN landing_queues.reason IS 'Why the queue was last paused, drained or resumed.';
COMMENT ON COLUMN landing_queues.changed_by_id IS 'Who last paused, drained or resumed the queue.';
COMMENT ON COLUMN landing_queues.last_claimed_at IS 'When a worker last claimed from this queue: claims go to the queue waiting longest.';

-- --- batches -----------------------------------------------------------------------------------

CREATE TABLE landing_batches (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id     bigint NOT NULL,
    target_bookmark   text NOT NULL,
    parent_id         bigint,
    depth             smallint NOT NULL DEFAULT 0,
    size              integer NOT NULL,
    state             text NOT NULL DEFAULT 'pending',
    claimed_by        text,
    claimed_at        timestamptz,
    lease_expires_at  timestamptz,
    fencing_token     bigint,
    deadline_at       timestamptz,
    reason            text,
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_batches_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT landing_batches_queue_fkey FOREIGN KEY (repository_id, target_bookmark)
        REFERENCES landing_queues (repository_id, bookmark) ON DELETE CASCADE,
    CONSTRAINT landing_batches_parent_fkey FOREIGN KEY (repository_id, parent_id)
        REFERENCES landing_batches (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT landing_batches_target_bookmark_check CHECK (is_valid_ref_name(target_bookmark)),
    CONSTRAINT landing_batches_depth_check CHECK (depth BETWEEN 0 AND 64),
    CONSTRAINT landing_batches_size_check CHECK (size BETWEEN 1 AND 1000),
    CONSTRAINT landing_batches_state_check
        CHECK (state IN ('pending', 'running', 'landed', 'failed', 'bisected', 'requeued',
                         'timed_out', 'cancelled')),
    CONSTRAINT landing_batches_claimed_by_check CHECK (char_length(claimed_by) BETWEEN 1 AND 255),
    CONSTRAINT landing_batches_reason_check CHECK (char_length(reason) <= 65536),
    CONSTRAINT landing_batches_claim_check
        CHECK (state <> 'running' OR (claimed_by IS NOT NULL AND claimed_at IS NOT NULL
                                      AND lease_expires_at IS NOT NULL AND fencing_token IS NOT NULL
                                      AND deadline_at IS NOT NULL)),
    CONSTRAINT landing_batches_finished_check
        CHECK ((state IN ('pending', 'running')) = (finished_at IS NULL))
);

-- Landing is serial per bookmark: the database itself refuses a second running batch.
CREATE UNIQUE INDEX landing_batches_one_running_key
    ON landing_batches (repository_id, target_bookmark) WHERE state = 'running';
CREATE INDEX landing_batches_queue_idx ON landing_batches (repository_id, target_bookmark, id);
CREATE INDEX landing_batches_parent_idx ON landing_batches (repository_id, parent_id)
    WHERE parent_id IS NOT NULL;
CREATE INDEX landing_batches_deadline_idx ON landing_batches (deadline_at) WHERE state = 'running';

CREATE TRIGGER landing_batches_set_updated_at BEFORE UPDATE ON landing_batches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER landing_batches_state_transition BEFORE UPDATE OF state ON landing_batches
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>running', 'pending>cancelled',
        'running>landed', 'running>failed', 'running>bisected', 'running>requeued',
        'running>timed_out');

COMMENT ON TABLE landing_batches IS
    'Requests of one bookmark landed together by one worker. pending (a half of a bisected batch, waiting) -> running -> landed | failed | bisected (split into two pending children) | requeued | timed_out. At most one running batch per bookmark (landing_batches_one_running_key).';
COMMENT ON COLUMN landing_batches.parent_id IS 'The bisected batch this one is a half of: the lineage history shows.';
COMMENT ON COLUMN landing_batches.depth IS 'Bisection rounds above this batch (0 for a batch formed from the queue).';
COMMENT ON COLUMN landing_batches.size IS 'Requests in the batch when it was formed.';
COMMENT ON COLUMN landing_batches.fencing_token IS 'From lease_fencing_tokens; a takeover gets a larger one, and every write of the worker presents it.';
COMMENT ON COLUMN landing_batches.deadline_at IS 'The run timeout: past it the run is requeued or failed with the reason timeout (renewing the lease does not move it).';
COMMENT ON COLUMN landing_batches.reason IS 'Why the batch finished as it did (the error of a failure).';

-- --- requests: batches, fencing, never-batch, the reason of the current state ------------------

ALTER TABLE landing_queue
    ADD COLUMN batch_id bigint,
    ADD COLUMN fencing_token bigint,
    ADD COLUMN never_batch boolean NOT NULL DEFAULT false,
    ADD COLUMN state_reason text,
    ADD COLUMN state_actor_id bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD CONSTRAINT landing_queue_batch_fkey FOREIGN KEY (repository_id, batch_id)
        REFERENCES landing_batches (repository_id, id) ON DELETE SET NULL (batch_id),
    ADD CONSTRAINT landing_queue_state_reason_check CHECK (char_length(state_reason) <= 65536),
    ADD CONSTRAINT landing_queue_running_batch_check
        CHECK (state <> 'running' OR (batch_id IS NOT NULL AND fencing_token IS NOT NULL));

CREATE INDEX landing_queue_batch_idx ON landing_queue (repository_id, batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX landing_queue_state_actor_id_idx ON landing_queue (state_actor_id)
    WHERE state_actor_id IS NOT NULL;

COMMENT ON COLUMN landing_queue.batch_id IS 'The batch the request runs in (running), waits in (queued, a bisected half) or last ran in.';
COMMENT ON COLUMN landing_queue.fencing_token IS 'The token of the batch''s current claim.';
COMMENT ON COLUMN landing_queue.never_batch IS 'The request always lands alone.';
COMMENT ON COLUMN landing_queue.state_reason IS 'Why the request is in its state (retry, bisected, timeout, a cancel''s reason...); the event log keeps every one.';
COMMENT ON COLUMN landing_queue.state_actor_id IS 'Who made the last change of state (NULL for a worker).';

-- A queue is made with its first request; a draining queue takes no new ones.
CREATE FUNCTION landing_queue_admit() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO landing_queues (repository_id, bookmark)
    VALUES (NEW.repository_id, NEW.target_bookmark)
    ON CONFLICT DO NOTHING;
    IF EXISTS (SELECT 1 FROM landing_queues
                WHERE repository_id = NEW.repository_id AND bookmark = NEW.target_bookmark
                  AND state = 'draining') THEN
        RAISE EXCEPTION 'the landing queue of % is draining: it takes no new requests',
            NEW.target_bookmark
            USING ERRCODE = 'FDC01', TABLE = 'landing_queues', CONSTRAINT = 'landing_queues_draining';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION landing_queue_admit() IS
    'BEFORE INSERT row trigger of landing_queue: makes the bookmark''s landing_queues row if needed and refuses (FDC01) a request to a draining queue.';

CREATE TRIGGER landing_queue_admit BEFORE INSERT ON landing_queue
    FOR EACH ROW EXECUTE FUNCTION landing_queue_admit();

-- --- the event log -----------------------------------------------------------------------------

CREATE TABLE landing_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id    bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_bookmark  text NOT NULL,
    landing_id       bigint,
    batch_id         bigint,
    kind             text NOT NULL,
    actor_id         bigint,
    worker           text,
    reason           text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_events_landing_fkey FOREIGN KEY (repository_id, landing_id)
        REFERENCES landing_queue (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT landing_events_batch_fkey FOREIGN KEY (repository_id, batch_id)
        REFERENCES landing_batches (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT landing_events_target_bookmark_check CHECK (is_valid_ref_name(target_bookmark)),
    CONSTRAINT landing_events_kind_check
        CHECK (kind IN ('submitted', 'claimed', 'taken_over', 'landed', 'failed', 'requeued',
                        'bisected', 'cancelled', 'rewritten', 'reprioritized', 'paused',
                        'resumed', 'draining')),
    CONSTRAINT landing_events_worker_check CHECK (char_length(worker) BETWEEN 1 AND 255),
    CONSTRAINT landing_events_reason_check CHECK (char_length(reason) <= 65536)
);

CREATE INDEX landing_events_landing_idx ON landing_events (repository_id, landing_id, id);
CREATE INDEX landing_events_batch_idx ON landing_events (repository_id, batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX landing_events_queue_idx ON landing_events (repository_id, target_bookmark, id);

CREATE TRIGGER landing_events_refuse_update BEFORE UPDATE ON landing_events
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE landing_events IS
    'Append-only log of every transition of landing requests and queues, with actor (kept as an id: a ledger outlives accounts), worker and reason. Written by triggers, so no path around it.';
COMMENT ON COLUMN landing_events.actor_id IS 'The user who made the change; NULL for a worker. Not a foreign key: the log keeps the id after the account is gone.';

CREATE FUNCTION landing_queue_log() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_kind := 'submitted';
    ELSIF NEW.state IS DISTINCT FROM OLD.state THEN
        v_kind := CASE
            WHEN NEW.state = 'running' THEN 'claimed'
            WHEN NEW.state = 'queued' AND NEW.state_reason = 'bisected' THEN 'bisected'
            WHEN NEW.state = 'queued' THEN 'requeued'
            ELSE NEW.state
        END;
    ELSIF NEW.fencing_token IS DISTINCT FROM OLD.fencing_token AND NEW.state = 'running' THEN
        v_kind := 'taken_over';
    ELSIF NEW.commit_id IS DISTINCT FROM OLD.commit_id THEN
        v_kind := 'rewritten';
    ELSIF NEW.priority IS DISTINCT FROM OLD.priority THEN
        v_kind := 'reprioritized';
    ELSE
        RETURN NULL;
    END IF;
    INSERT INTO landing_events (repository_id, target_bookmark, landing_id, batch_id, kind,
                                actor_id, worker, reason)
    VALUES (NEW.repository_id, NEW.target_bookmark, NEW.id, NEW.batch_id, v_kind,
            CASE WHEN TG_OP = 'INSERT' THEN NEW.author_id ELSE NEW.state_actor_id END,
            CASE WHEN TG_OP = 'UPDATE' THEN coalesce(NEW.claimed_by, OLD.claimed_by) END,
            coalesce(CASE WHEN v_kind IN ('rewritten', 'reprioritized', 'submitted') THEN ''
                          ELSE NEW.state_reason END, ''));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION landing_queue_log() IS
    'AFTER INSERT OR UPDATE row trigger of landing_queue: logs submissions, changes of state (claimed, landed, failed, requeued, bisected, cancelled), takeovers, rewrites and priority changes to landing_events.';

CREATE TRIGGER landing_queue_log AFTER INSERT OR UPDATE ON landing_queue
    FOR EACH ROW EXECUTE FUNCTION landing_queue_log();

CREATE FUNCTION landing_queues_log() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF (TG_OP = 'UPDATE' AND NEW.state = OLD.state) OR (TG_OP = 'INSERT' AND NEW.state = 'open') THEN
        RETURN NULL;
    END IF;
    INSERT INTO landing_events (repository_id, target_bookmark, kind, actor_id, reason)
    VALUES (NEW.repository_id, NEW.bookmark,
            CASE NEW.state WHEN 'open' THEN 'resumed' WHEN 'paused' THEN 'paused' ELSE 'draining' END,
            NEW.changed_by_id, NEW.reason);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION landing_queues_log() IS
    'AFTER INSERT OR UPDATE OF state row trigger of landing_queues: logs pauses, drains and resumptions with actor and reason.';

CREATE TRIGGER landing_queues_log AFTER INSERT OR UPDATE OF state ON landing_queues
    FOR EACH ROW EXECUTE FUNCTION landing_queues_log();

-- --- protection: stale approvals ---------------------------------------------------------------

ALTER TABLE protected_branches ADD COLUMN dismiss_stale_approvals boolean NOT NULL DEFAULT false;

COMMENT ON COLUMN protected_branches.dismiss_stale_approvals IS
    'When the change is rewritten (a new commit), approvals of older commits are dismissed rather than only marked stale.';

-- --- notifications about landing requests and pull requests ------------------------------------

ALTER TABLE notifications
    ADD COLUMN landing_id bigint,
    ADD COLUMN pull_request_id bigint,
    ADD CONSTRAINT notifications_landing_fkey FOREIGN KEY (repository_id, landing_id)
        REFERENCES landing_queue (repository_id, id) ON DELETE CASCADE,
    ADD CONSTRAINT notifications_pull_request_fkey FOREIGN KEY (repository_id, pull_request_id)
        REFERENCES pull_requests (repository_id, id) ON DELETE CASCADE;

CREATE INDEX notifications_landing_idx ON notifications (repository_id, landing_id)
    WHERE landing_id IS NOT NULL;
CREATE INDEX notifications_pull_request_idx ON notifications (repository_id, pull_request_id)
    WHERE pull_request_id IS NOT NULL;

COMMENT ON COLUMN notifications.landing_id IS 'The landing request the notification is about, if any.';
COMMENT ON COLUMN notifications.pull_request_id IS 'The pull request the notification is about, if any.';

-- --- conflicts: an index for a change's conflicts in commit order ------------------------------

CREATE INDEX conflicts_change_idx ON conflicts (repository_id, change_id, id);

-- --- readiness ---------------------------------------------------------------------------------

-- The latest non-dismissed review of each reviewer counts; an approval counts only for the
-- commit it was given on (one of an older commit is stale). Statuses are the latest per
-- (repository, commit, context). A change with an unresolved conflict is never ready.
CREATE FUNCTION landing_readiness(p_repository_id bigint, p_landing_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session: an SQL function that cannot be
    -- inlined would be planned again on every call.
    RETURN QUERY
        WITH l AS (
            SELECT q.repository_id, q.id, q.change_id, q.commit_id, q.target_bookmark
              FROM landing_queue q
             WHERE q.repository_id = p_repository_id AND q.id = p_landing_id
        ), rules AS (
            SELECT count(p.id) > 0 AS protected,
                   coalesce(max(p.required_approvals), 0)::integer AS required,
                   ARRAY(SELECT DISTINCT c
                           FROM protected_branches p2, unnest(p2.required_status_contexts) AS c, l
                          WHERE p2.repository_id = l.repository_id
                            AND branch_pattern_matches(p2.pattern, l.target_bookmark)
                          ORDER BY c) AS contexts
              FROM l
              LEFT JOIN protected_branches p
                ON p.repository_id = l.repository_id AND branch_pattern_matches(p.pattern, l.target_bookmark)
        ), latest AS (
            SELECT DISTINCT ON (r.reviewer_id) r.state, r.commit_id
              FROM landing_reviews r, l
             WHERE r.repository_id = l.repository_id AND r.landing_id = l.id
               AND r.state <> 'dismissed' AND r.reviewer_id IS NOT NULL
             ORDER BY r.reviewer_id, r.created_at DESC, r.id DESC
        ), tally AS (
            SELECT count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id IS NOT DISTINCT FROM l.commit_id)::integer AS approvals,
                   count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id IS DISTINCT FROM l.commit_id)::integer AS stale,
                   count(*) FILTER (WHERE latest.state = 'changes_requested')::integer AS changes
              FROM l LEFT JOIN latest ON true
        ), passing AS (
            SELECT ARRAY(
                SELECT s.context FROM (
                    SELECT DISTINCT ON (cs.context) cs.context, cs.state
                      FROM commit_statuses cs, l, rules
                     WHERE cs.repository_id = l.repository_id AND cs.commit_id = l.commit_id
                       AND cs.context = ANY (rules.contexts)
                     ORDER BY cs.context, cs.updated_at DESC, cs.created_at DESC
                ) s WHERE s.state = 'success' ORDER BY s.context) AS contexts
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, l
             WHERE c.repository_id = l.repository_id AND c.change_id = l.change_id
               AND c.resolved_at IS NULL
        )
        SELECT rules.protected, rules.required, tally.approvals, tally.stale, tally.changes,
               rules.contexts, passing.contexts, open_conflicts.n,
               open_conflicts.n = 0
               AND (NOT rules.protected
                    OR (tally.approvals >= rules.required
                        AND (rules.required = 0 OR tally.changes = 0)
                        AND rules.contexts <@ passing.contexts))
          FROM l, rules, tally, passing, open_conflicts;
END
$$;

COMMENT ON FUNCTION landing_readiness(bigint, bigint) IS
    'Whether landing request p_landing_id may land, and why: the protection rules of its bookmark (the most approvals any matching rule requires, every context any requires), the current approvals (the latest non-dismissed review of each reviewer, approved on the request''s commit), stale ones (approved on an older commit), changes requested, required contexts whose latest status is success, unresolved conflicts of the change.';

-- The same rules for a pull request: the protection rules of its base branch, the latest
-- submitted, non-dismissed review of each reviewer (drafts never count), statuses and
-- unresolved conflicts of its head commit.
CREATE FUNCTION pull_request_readiness(p_repository_id bigint, p_pull_request_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session: an SQL function that cannot be
    -- inlined would be planned again on every call.
    RETURN QUERY
        WITH pr AS (
            SELECT p.repository_id, p.id, p.head_commit_id, p.base_ref
              FROM pull_requests p
             WHERE p.repository_id = p_repository_id AND p.id = p_pull_request_id
        ), rules AS (
            SELECT count(b.id) > 0 AS protected,
                   coalesce(max(b.required_approvals), 0)::integer AS required,
                   ARRAY(SELECT DISTINCT c
                           FROM protected_branches b2, unnest(b2.required_status_contexts) AS c, pr
                          WHERE b2.repository_id = pr.repository_id
                            AND branch_pattern_matches(b2.pattern, pr.base_ref)
                          ORDER BY c) AS contexts
              FROM pr
              LEFT JOIN protected_branches b
                ON b.repository_id = pr.repository_id AND branch_pattern_matches(b.pattern, pr.base_ref)
        ), latest AS (
            SELECT DISTINCT ON (r.reviewer_id) r.state, r.commit_id
              FROM reviews r, pr
             WHERE r.repository_id = pr.repository_id AND r.pull_request_id = pr.id
               AND r.state NOT IN ('dismissed', 'pending') AND r.reviewer_id IS NOT NULL
             ORDER BY r.reviewer_id, r.submitted_at DESC, r.id DESC
        ), tally AS (
            SELECT count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id = pr.head_commit_id)::integer AS approvals,
                   count(*) FILTER (WHERE latest.state = 'approved'
                                      AND latest.commit_id <> pr.head_commit_id)::integer AS stale,
                   count(*) FILTER (WHERE latest.state = 'changes_requested')::integer AS changes
              FROM pr LEFT JOIN latest ON true
        ), passing AS (
            SELECT ARRAY(
                SELECT s.context FROM (
                    SELECT DISTINCT ON (cs.context) cs.context, cs.state
                      FROM commit_statuses cs, pr, rules
                     WHERE cs.repository_id = pr.repository_id AND cs.commit_id = pr.head_commit_id
                       AND cs.context = ANY (rules.contexts)
                     ORDER BY cs.context, cs.updated_at DESC, cs.created_at DESC
                ) s WHERE s.state = 'success' ORDER BY s.context) AS contexts
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, pr
             WHERE c.repository_id = pr.repository_id AND c.commit_id = pr.head_commit_id
               AND c.resolved_at IS NULL
        )
        SELECT rules.protected, rules.required, tally.approvals, tally.stale, tally.changes,
               rules.contexts, passing.contexts, open_conflicts.n,
               open_conflicts.n = 0
               AND (NOT rules.protected
                    OR (tally.approvals >= rules.required
                        AND (rules.required = 0 OR tally.changes = 0)
                        AND rules.contexts <@ passing.contexts))
          FROM pr, rules, tally, passing, open_conflicts;
END
$$;

COMMENT ON FUNCTION pull_request_readiness(bigint, bigint) IS
    'Whether pull request p_pull_request_id may merge, and why, by the rules landing_readiness applies: protection rules of its base branch, current and stale approvals of submitted reviews, changes requested, passing required contexts and unresolved conflicts of its head commit.';

-- --- submitting --------------------------------------------------------------------------------

-- Idempotent per (repository, change, bookmark) while the request is active. The repository's
-- number counter is locked first, so concurrent submits of one change queue behind it and the
-- later ones, looking again once it is theirs, find the request the first one made: one
-- request, one number, no gap.
CREATE FUNCTION landing_submit(p_repository_id bigint, p_author_id bigint, p_change_id text,
                               p_commit_id text, p_bookmark text, p_title text,
                               p_description text, p_priority smallint, p_never_batch boolean,
                               p_max_attempts integer)
RETURNS SETOF landing_queue
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_row landing_queue;
BEGIN
    INSERT INTO issue_counters (repository_id) VALUES (p_repository_id) ON CONFLICT DO NOTHING;
    PERFORM 1 FROM issue_counters WHERE repository_id = p_repository_id FOR UPDATE;
    SELECT * INTO v_row FROM landing_queue
     WHERE repository_id = p_repository_id AND change_id = p_change_id
       AND target_bookmark = p_bookmark AND state IN ('queued', 'running');
    IF FOUND THEN
        RETURN NEXT v_row;
        RETURN;
    END IF;
    RETURN QUERY
    INSERT INTO landing_queue (repository_id, number, author_id, change_id, commit_id,
                               target_bookmark, title, description, priority, never_batch,
                               max_attempts, state_actor_id)
    VALUES (p_repository_id, get_next_issue_number(p_repository_id), p_author_id, p_change_id,
            p_commit_id, p_bookmark, p_title, p_description, p_priority, p_never_batch,
            p_max_attempts, p_author_id)
    RETURNING *;
END
$$;

COMMENT ON FUNCTION landing_submit(bigint, bigint, text, text, text, text, text, smallint, boolean, integer) IS
    'Submit a change to land on a bookmark, or return the active request that already asks it: the repository''s number counter is locked first, so concurrent submits of one change give one request and one number.';

-- --- claiming ----------------------------------------------------------------------------------

-- What a claim hands its worker: the batch, its claim and its requests.
CREATE FUNCTION landing_claimed(p_batch_id bigint, p_taken_over boolean)
RETURNS TABLE (batch_id bigint, repository_id bigint, target_bookmark text, parent_id bigint,
               depth smallint, fencing_token bigint, claimed_by text,
               lease_expires_at timestamptz, deadline_at timestamptz, taken_over boolean,
               requests json)
LANGUAGE sql STABLE
AS $$
    SELECT b.id, b.repository_id, b.target_bookmark, b.parent_id, b.depth, b.fencing_token,
           b.claimed_by, b.lease_expires_at, b.deadline_at, p_taken_over,
           coalesce((SELECT json_agg(json_build_object(
                         'id', l.id, 'number', l.number, 'change_id', l.change_id,
                         'commit_id', l.commit_id, 'title', l.title, 'priority', l.priority,
                         'attempts', l.attempts) ORDER BY l.priority DESC, l.id)
                       FROM landing_queue l
                      WHERE l.repository_id = b.repository_id AND l.batch_id = b.id
                        AND l.state = 'running'), '[]')
      FROM landing_batches b
     WHERE b.id = p_batch_id
$$;

COMMENT ON FUNCTION landing_claimed(bigint, boolean) IS
    'A claimed batch as landing_claim returns it: its claim (token, holder, lease, deadline) and its running requests in landing order, as JSON.';


-- The run of a batch past its deadline ends: each request is requeued (attempts left) or fails,
-- with the reason timeout. The caller holds the batch.
CREATE FUNCTION landing_time_out(p_batch_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    UPDATE landing_queue SET
        state = CASE WHEN attempts < max_attempts THEN 'queued' ELSE 'failed' END,
        batch_id = CASE WHEN attempts < max_attempts THEN NULL ELSE batch_id END,
        claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
        last_error = 'timeout', state_reason = 'timeout', state_actor_id = NULL,
        finished_at = CASE WHEN attempts < max_attempts THEN NULL ELSE now() END
     WHERE batch_id = p_batch_id AND state = 'running';
    UPDATE landing_batches SET state = 'timed_out', reason = 'timeout', finished_at = now()
     WHERE id = p_batch_id AND state = 'running';
END
$$;

COMMENT ON FUNCTION landing_time_out(bigint) IS
    'Ends a running batch past its deadline: its requests are requeued in their place (attempts left) or failed, with the reason timeout; the batch becomes timed_out.';

CREATE FUNCTION landing_sweep() RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_batch bigint;
    v_count integer := 0;
BEGIN
    FOR v_batch IN
        SELECT b.id FROM landing_batches b
         WHERE b.state = 'running' AND b.deadline_at <= now()
         ORDER BY b.deadline_at
         FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM landing_time_out(v_batch);
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;

COMMENT ON FUNCTION landing_sweep() IS
    'Times out every running batch past its deadline (landing_time_out) and returns how many; batches a worker is writing at that moment are left for the next sweep.';

-- One claim: the queue waiting longest whose running batch's lease expired (taken over, with a
-- new token) or that has none and holds a ready request (a new batch: a bisected half waiting,
-- or the head of the queue and the ready requests after it, up to p_batch_size, never-batch
-- requests alone). The queue row is locked FOR UPDATE SKIP LOCKED, so concurrent workers go to
-- other bookmarks; each later statement sees what committed before the lock was taken.
CREATE FUNCTION landing_claim(p_worker text, p_lease_seconds integer, p_repository_id bigint,
                              p_bookmark text, p_batch_size integer, p_timeout_seconds integer)
RETURNS TABLE (batch_id bigint, repository_id bigint, target_bookmark text, parent_id bigint,
               depth smallint, fencing_token bigint, claimed_by text,
               lease_expires_at timestamptz, deadline_at timestamptz, taken_over boolean,
               requests json)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_queue record;
    v_batch landing_batches;
    v_head landing_queue;
    v_members bigint[];
    v_token bigint;
    v_batch_id bigint;
    v_skipped text[] := '{}';
BEGIN
    IF p_batch_size IS NULL OR p_batch_size < 1 OR p_batch_size > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'batch_size',
            MESSAGE = 'batch_size: must be from 1 to 1000';
    END IF;
    LOOP
        SELECT q.repository_id, q.bookmark INTO v_queue
          FROM landing_queues q
         WHERE q.state <> 'paused'
           AND (p_repository_id IS NULL OR q.repository_id = p_repository_id)
           AND (p_bookmark IS NULL OR q.bookmark = p_bookmark)
           AND NOT (q.repository_id::text || ':' || q.bookmark) = ANY (v_skipped)
           AND (EXISTS (SELECT 1 FROM landing_batches b
                         WHERE b.repository_id = q.repository_id AND b.target_bookmark = q.bookmark
                           AND b.state = 'running'
                           AND (b.lease_expires_at <= now() OR b.deadline_at <= now()))
                OR (NOT EXISTS (SELECT 1 FROM landing_batches b
                                 WHERE b.repository_id = q.repository_id
                                   AND b.target_bookmark = q.bookmark AND b.state = 'running')
                    AND EXISTS (SELECT 1 FROM landing_queue l
                                 WHERE l.repository_id = q.repository_id
                                   AND l.target_bookmark = q.bookmark AND l.state = 'queued')))
         ORDER BY q.last_claimed_at NULLS FIRST, q.repository_id, q.bookmark
         LIMIT 1
         FOR UPDATE OF q SKIP LOCKED;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        v_skipped := v_skipped || (v_queue.repository_id::text || ':' || v_queue.bookmark);

        -- A fresh look, now that the queue is ours.
        SELECT * INTO v_batch FROM landing_batches b
         WHERE b.repository_id = v_queue.repository_id AND b.target_bookmark = v_queue.bookmark
           AND b.state = 'running'
         FOR UPDATE;
        IF FOUND THEN
            IF v_batch.deadline_at <= now() THEN
                PERFORM landing_time_out(v_batch.id);
            ELSIF v_batch.lease_expires_at <= now() THEN
                v_token := nextval('lease_fencing_tokens');
                UPDATE landing_batches SET claimed_by = p_worker, claimed_at = now(),
                       lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                       fencing_token = v_token
                 WHERE id = v_batch.id;
                UPDATE landing_queue SET claimed_by = p_worker, claimed_at = now(),
                       lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                       fencing_token = v_token, state_reason = 'lease expired',
                       state_actor_id = NULL
                 WHERE landing_queue.batch_id = v_batch.id AND state = 'running';
                UPDATE landing_queues SET last_claimed_at = now()
                 WHERE repository_id = v_queue.repository_id AND bookmark = v_queue.bookmark;
                RETURN QUERY SELECT * FROM landing_claimed(v_batch.id, true);
                RETURN;
            ELSE
                CONTINUE;  -- a live batch: the bookmark is busy
            END IF;
        END IF;

        SELECT * INTO v_head FROM landing_queue l
         WHERE l.repository_id = v_queue.repository_id AND l.target_bookmark = v_queue.bookmark
           AND l.state = 'queued'
           AND (SELECT r.ready FROM landing_readiness(l.repository_id, l.id) r)
         -- The bookmark's own claim index (landing_queue_claim_idx), whatever else waits.
         ORDER BY l.repository_id, l.target_bookmark, l.priority DESC, l.id
         LIMIT 1
         FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            CONTINUE;
        END IF;

        IF v_head.batch_id IS NOT NULL THEN
            -- A bisected half waits: it runs as it was formed (less what left the queue).
            v_batch_id := v_head.batch_id;
            SELECT array_agg(m.id ORDER BY m.priority DESC, m.id) INTO v_members
              FROM (SELECT l.id, l.priority FROM landing_queue l
                     WHERE l.repository_id = v_queue.repository_id
                       AND l.batch_id = v_batch_id AND l.state = 'queued'
                       AND (SELECT r.ready FROM landing_readiness(l.repository_id, l.id) r)
                     ORDER BY l.priority DESC, l.id
                     FOR UPDATE SKIP LOCKED) m;
        ELSIF v_head.never_batch OR p_batch_size = 1 THEN
            v_members := ARRAY[v_head.id];
        ELSE
            SELECT v_head.id || coalesce(array_agg(m.id ORDER BY m.priority DESC, m.id), '{}')
              INTO v_members
              FROM (SELECT l.id, l.priority FROM landing_queue l
                     WHERE l.repository_id = v_queue.repository_id
                       AND l.target_bookmark = v_queue.bookmark AND l.state = 'queued'
                       AND l.batch_id IS NULL AND NOT l.never_batch AND l.id <> v_head.id
                       AND (l.priority, -l.id) < (v_head.priority, -v_head.id)
                       AND (SELECT r.ready FROM landing_readiness(l.repository_id, l.id) r)
                     ORDER BY l.repository_id, l.target_bookmark, l.priority DESC, l.id
                     LIMIT p_batch_size - 1
                     FOR UPDATE SKIP LOCKED) m;
        END IF;

        v_token := nextval('lease_fencing_tokens');
        IF v_head.batch_id IS NOT NULL THEN
            UPDATE landing_batches SET state = 'running', claimed_by = p_worker, claimed_at = now(),
                   lease_expires_at = now() + make_interval(secs => p_lease_seconds),
                   fencing_token = v_token,
                   deadline_at = now() + make_interval(secs => p_timeout_seconds),
                   size = cardinality(v_members)
             WHERE id = v_batch_id;
        ELSE
            INSERT INTO landing_batches (repository_id, target_bookmark, size, state, claimed_by,
                                         claimed_at, lease_expires_at, fencing_token, deadline_at)
            VALUES (v_queue.repository_id, v_queue.bookmark, cardinality(v_members), 'running',
                    p_worker, now(), now() + make_interval(secs => p_lease_seconds), v_token,
                    now() + make_interval(secs => p_timeout_seconds))
            RETURNING id INTO v_batch_id;
        END IF;
        UPDATE landing_queue SET state = 'running', batch_id = v_batch_id, claimed_by = p_worker,
               claimed_at = now(), lease_expires_at = now() + make_interval(secs => p_lease_seconds),
               fencing_token = v_token, attempts = attempts + 1, state_reason = NULL,
               state_actor_id = NULL
         WHERE id = ANY (v_members);
        UPDATE landing_queues SET last_claimed_at = now()
         WHERE repository_id = v_queue.repository_id AND bookmark = v_queue.bookmark;
        RETURN QUERY SELECT * FROM landing_claimed(v_batch_id, false);
        RETURN;
    END LOOP;
END
$$;

COMMENT ON FUNCTION landing_claim(text, integer, bigint, text, integer, integer) IS
    'Claim the next landing batch for worker p_worker (optionally of one repository or bookmark): take over a running batch whose lease expired (larger fencing token), time out one past its deadline, or form a batch of ready requests (a bisected half, or the head of the queue and up to p_batch_size - 1 batchable ready requests after it). Returns the claimed batch (landing_claimed); no row when nothing is claimable.';

-- The outcome of a run, presented with the claim's token (a stale one changes nothing: no row).
-- landed: every request of the batch lands on p_landed_commit_id. An error: a batch of several
-- is bisected into two pending halves that keep their places and their attempts; a request
-- alone is requeued in its place while attempts remain and p_retry, else it fails.
CREATE FUNCTION landing_finish(p_batch_id bigint, p_token bigint, p_landed_commit_id text,
                               p_error text, p_retry boolean)
RETURNS TABLE (landing_id bigint, outcome text)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_batch landing_batches;
    v_members bigint[];
    v_half integer;
    v_first bigint;
    v_second bigint;
BEGIN
    IF (p_landed_commit_id IS NULL) = (p_error IS NULL) THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'landed_commit_id',
            MESSAGE = 'landed_commit_id: give either the landed commit or an error';
    END IF;
    SELECT * INTO v_batch FROM landing_batches b
     WHERE b.id = p_batch_id AND b.state = 'running' AND b.fencing_token = p_token
     FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT array_agg(l.id ORDER BY l.priority DESC, l.id) INTO v_members
      FROM landing_queue l
     WHERE l.repository_id = v_batch.repository_id AND l.batch_id = v_batch.id
       AND l.state = 'running';
    v_members := coalesce(v_members, '{}');

    IF p_landed_commit_id IS NOT NULL THEN
        UPDATE landing_queue SET state = 'landed', landed_commit_id = p_landed_commit_id,
               claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
               finished_at = now(), state_reason = 'landed', state_actor_id = NULL
         WHERE id = ANY (v_members);
        UPDATE landing_batches SET state = 'landed', finished_at = now() WHERE id = v_batch.id;
        RETURN QUERY SELECT unnest(v_members), 'landed'::text;
    ELSIF cardinality(v_members) > 1 THEN
        v_half := cardinality(v_members) / 2;
        INSERT INTO landing_batches (repository_id, target_bookmark, parent_id, depth, size)
        VALUES (v_batch.repository_id, v_batch.target_bookmark, v_batch.id, v_batch.depth + 1, v_half)
        RETURNING id INTO v_first;
        INSERT INTO landing_batches (repository_id, target_bookmark, parent_id, depth, size)
        VALUES (v_batch.repository_id, v_batch.target_bookmark, v_batch.id, v_batch.depth + 1,
                cardinality(v_members) - v_half)
        RETURNING id INTO v_second;
        -- The failure is the batch's, not yet any one request's: the attempt is given back.
        UPDATE landing_queue l SET state = 'queued',
               batch_id = CASE WHEN array_position(v_members, l.id) <= v_half THEN v_first
                               ELSE v_second END,
               claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
               attempts = greatest(attempts - 1, 0), last_error = p_error,
               state_reason = 'bisected', state_actor_id = NULL
         WHERE l.id = ANY (v_members);
        UPDATE landing_batches SET state = 'bisected', reason = p_error, finished_at = now()
         WHERE id = v_batch.id;
        RETURN QUERY SELECT unnest(v_members), 'bisected'::text;
    ELSE
        RETURN QUERY
        UPDATE landing_queue l SET
               state = CASE WHEN p_retry AND attempts < max_attempts THEN 'queued' ELSE 'failed' END,
               batch_id = CASE WHEN p_retry AND attempts < max_attempts THEN NULL ELSE batch_id END,
               claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
               last_error = p_error,
               state_reason = CASE WHEN p_retry AND attempts < max_attempts THEN 'retry'
                                   WHEN p_retry THEN 'max_attempts' ELSE p_error END,
               state_actor_id = NULL,
               finished_at = CASE WHEN p_retry AND attempts < max_attempts THEN NULL ELSE now() END
         WHERE l.id = ANY (v_members)
        RETURNING l.id, CASE l.state WHEN 'queued' THEN 'requeued' ELSE 'failed' END;
        UPDATE landing_batches SET state = 'failed', reason = p_error, finished_at = now()
         WHERE id = v_batch.id;
    END IF;
END
$$;

COMMENT ON FUNCTION landing_finish(bigint, bigint, text, text, boolean) IS
    'End the run of batch p_batch_id held with fencing token p_token: landed on p_landed_commit_id, or failed with p_error (a batch of several is bisected into two pending halves; a request alone is requeued in its place while attempts remain and p_retry, else failed). Returns each request and what became of it; no row for a stale token.';

CREATE FUNCTION landing_requeue(p_batch_id bigint, p_token bigint, p_reason text)
RETURNS TABLE (landing_id bigint, outcome text)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_batch landing_batches;
BEGIN
    SELECT * INTO v_batch FROM landing_batches b
     WHERE b.id = p_batch_id AND b.state = 'running' AND b.fencing_token = p_token
     FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Given back untried: the attempt does not count, and the request keeps its place.
    RETURN QUERY
    UPDATE landing_queue l SET state = 'queued', batch_id = NULL,
           claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
           attempts = greatest(attempts - 1, 0), state_reason = p_reason, state_actor_id = NULL
     WHERE l.repository_id = v_batch.repository_id AND l.batch_id = v_batch.id
       AND l.state = 'running'
    RETURNING l.id, 'requeued'::text;
    UPDATE landing_batches SET state = 'requeued', reason = p_reason, finished_at = now()
     WHERE id = v_batch.id;
END
$$;

COMMENT ON FUNCTION landing_requeue(bigint, bigint, text) IS
    'Give a running batch back untried (held with p_token): its requests are queued again in their places, the attempt not counted. No row for a stale token.';
