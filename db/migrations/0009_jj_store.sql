-- 0009_jj_store: what the jj domain needs beyond the tables of 0001.
--
-- Operations: the heads of each repository's operation log kept by a trigger (a parent must be
-- stored before, or with, its children), and the log's order. Changes: committer, predecessors
-- (the evolution log) and the conflict flag; a rewritten commit is hidden by the database.
-- Blobs: which repository holds which blob (the privacy boundary of a store shared by all),
-- the references from parts and file trackers going through that link, and garbage collection
-- as a function. Workspaces: agent ids, the audit trail of every state transition, and the
-- identifying prefixes of UUIDv7 ids.

-- --- shared -----------------------------------------------------------------------------------

CREATE FUNCTION jj_common_prefix_length(a text, b text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_length integer := least(length(a), length(b));
BEGIN
    IF a IS NULL OR b IS NULL THEN
        RETURN 0;
    END IF;
    -- Random ids share a few characters at most: the loop ends early.
    FOR i IN 1 .. v_length LOOP
        IF substr(a, i, 1) <> substr(b, i, 1) THEN
            RETURN i - 1;
        END IF;
    END LOOP;
    RETURN v_length;
END
$$;

COMMENT ON FUNCTION jj_common_prefix_length(text, text) IS
    'Length of the longest common prefix of a and b (0 when either is NULL or empty): with the neighbours of an id in a COLLATE "C" index it gives the shortest unique prefix.';

-- --- operations -------------------------------------------------------------------------------

-- The id checks of 0001, rewritten for speed: PostgreSQL's regex engine takes ~0.1 ms to match
-- '^[0-9a-f]{128}$' and ~0.25 ms per element for the array form, which made bulk ingest slow.
-- A length and an unbounded class say the same in ~5 us.
CREATE FUNCTION jj_is_hex_ids(p_ids text[], p_length integer) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    v_id text;
BEGIN
    FOREACH v_id IN ARRAY p_ids LOOP
        IF v_id IS NULL OR char_length(v_id) <> p_length OR v_id !~ '^[0-9a-f]*$' THEN
            RETURN false;
        END IF;
    END LOOP;
    RETURN true;
END
$$;

COMMENT ON FUNCTION jj_is_hex_ids(text[], integer) IS
    'Every element is p_length lowercase hex digits (no NULL): the element check of jj id arrays.';

ALTER TABLE jj_operations
    DROP CONSTRAINT jj_operations_operation_id_check,
    DROP CONSTRAINT jj_operations_view_id_check,
    DROP CONSTRAINT jj_operations_parent_operation_ids_check,
    ADD CONSTRAINT jj_operations_operation_id_check
        CHECK (char_length(operation_id) = 128 AND operation_id ~ '^[0-9a-f]*$'),
    ADD CONSTRAINT jj_operations_view_id_check
        CHECK (char_length(view_id) = 128 AND view_id ~ '^[0-9a-f]*$'),
    ADD CONSTRAINT jj_operations_parent_operation_ids_check
        CHECK (cardinality(parent_operation_ids) <= 64
               AND char_length(array_to_string(parent_operation_ids, ',')) <= 8255
               AND jj_is_hex_ids(parent_operation_ids, 128));

CREATE INDEX jj_operations_repository_id_ended_at_idx
    ON jj_operations (repository_id, ended_at, operation_id);

CREATE TABLE jj_operation_heads (
    repository_id  bigint NOT NULL,
    operation_id   text COLLATE "C" NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, operation_id),
    CONSTRAINT jj_operation_heads_operation_id_check CHECK (operation_id ~ '^[0-9a-f]{128}$'),
    CONSTRAINT jj_operation_heads_operation_fkey FOREIGN KEY (repository_id, operation_id)
        REFERENCES jj_operations (repository_id, operation_id) ON DELETE CASCADE
);

CREATE TRIGGER jj_operation_heads_refuse_update BEFORE UPDATE ON jj_operation_heads
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE jj_operation_heads IS
    'The operations of a repository that no stored operation names as a parent, kept by jj_operations_record(). More than one head is concurrent operations that jj must merge. Rows are never updated (append-only), only inserted and deleted when a child arrives.';

CREATE FUNCTION jj_operations_record() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_missing text;
BEGIN
    -- Every parent is stored, in this statement or before it: children of an operation can
    -- only arrive with it or after it, so heads are exact.
    SELECT p.parent INTO v_missing
      FROM (SELECT a.repository_id, unnest(a.parent_operation_ids) AS parent FROM added a) p
     WHERE NOT EXISTS (SELECT FROM jj_operations o
                        WHERE o.repository_id = p.repository_id AND o.operation_id = p.parent)
     LIMIT 1;
    IF v_missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'operations',
            MESSAGE = format('operations: parent operation %s is not stored (record it first or in the same batch)', v_missing);
    END IF;
    INSERT INTO jj_operation_heads (repository_id, operation_id)
    SELECT a.repository_id, a.operation_id FROM added a
    EXCEPT
    SELECT a.repository_id, unnest(a.parent_operation_ids) FROM added a;
    -- Lock the parents that stop being heads in one order, so concurrent batches never deadlock.
    PERFORM 1 FROM jj_operation_heads h
     WHERE (h.repository_id, h.operation_id) IN
           (SELECT a.repository_id, unnest(a.parent_operation_ids) FROM added a)
     ORDER BY h.repository_id, h.operation_id
       FOR UPDATE;
    DELETE FROM jj_operation_heads h
     WHERE (h.repository_id, h.operation_id) IN
           (SELECT a.repository_id, unnest(a.parent_operation_ids) FROM added a);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION jj_operations_record() IS
    'AFTER INSERT statement trigger of jj_operations: refuses an operation whose parent is not stored (FDI01, field operations), adds the new operations without children to jj_operation_heads and removes their parents from it.';

CREATE TRIGGER jj_operations_record AFTER INSERT ON jj_operations
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION jj_operations_record();

INSERT INTO jj_operation_heads (repository_id, operation_id)
SELECT o.repository_id, o.operation_id FROM jj_operations o
 WHERE NOT EXISTS (SELECT FROM jj_operations c
                    WHERE c.repository_id = o.repository_id
                      AND o.operation_id = ANY (c.parent_operation_ids));

-- --- changes ----------------------------------------------------------------------------------

ALTER TABLE changes
    DROP CONSTRAINT changes_change_id_check,
    DROP CONSTRAINT changes_commit_id_check,
    DROP CONSTRAINT changes_parent_commit_ids_check,
    ADD CONSTRAINT changes_change_id_check
        CHECK (char_length(change_id) = 32 AND change_id ~ '^[k-z]*$'),
    ADD CONSTRAINT changes_commit_id_check
        CHECK (char_length(commit_id) = 40 AND commit_id ~ '^[0-9a-f]*$'),
    ADD CONSTRAINT changes_parent_commit_ids_check
        CHECK (cardinality(parent_commit_ids) <= 64
               AND char_length(array_to_string(parent_commit_ids, ',')) <= 2623
               AND jj_is_hex_ids(parent_commit_ids, 40)),
    ADD COLUMN committer_name text NOT NULL DEFAULT '',
    ADD COLUMN committer_email text NOT NULL DEFAULT '',
    ADD COLUMN predecessor_commit_ids text[] COLLATE "C" NOT NULL DEFAULT '{}',
    ADD COLUMN conflict boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT changes_committer_name_check CHECK (char_length(committer_name) <= 255),
    ADD CONSTRAINT changes_committer_email_check CHECK (char_length(committer_email) <= 255),
    ADD CONSTRAINT changes_predecessor_commit_ids_check
        CHECK (cardinality(predecessor_commit_ids) <= 64
               AND char_length(array_to_string(predecessor_commit_ids, ',')) <= 2623
               AND jj_is_hex_ids(predecessor_commit_ids, 40));

COMMENT ON COLUMN changes.predecessor_commit_ids IS 'Commits this one rewrote (jj''s evolution log); a commit with a recorded successor is hidden.';
COMMENT ON COLUMN changes.conflict IS 'The commit holds unresolved conflicts.';
COMMENT ON COLUMN changes.committer_name IS 'Committer signature as recorded in the commit.';

CREATE FUNCTION changes_hide_rewritten() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE changes c SET hidden = true
     WHERE NOT c.hidden
       AND (c.repository_id, c.commit_id) IN
           (SELECT a.repository_id, unnest(a.predecessor_commit_ids) FROM added a);
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION changes_hide_rewritten() IS
    'AFTER INSERT statement trigger of changes: a commit named as the predecessor of a new commit was rewritten, so it is hidden (jj keeps it reachable through the evolution log).';

CREATE TRIGGER changes_hide_rewritten AFTER INSERT ON changes
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION changes_hide_rewritten();

-- --- blobs ------------------------------------------------------------------------------------

CREATE TABLE repository_blobs (
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    hash           bytea NOT NULL REFERENCES blobs (hash) ON DELETE RESTRICT,
    uploaded_at    timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, hash)
);

CREATE INDEX repository_blobs_hash_idx ON repository_blobs (hash);
CREATE INDEX repository_blobs_uploaded_at_idx ON repository_blobs (uploaded_at);

CREATE TRIGGER repository_blobs_set_updated_at BEFORE UPDATE ON repository_blobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE repository_blobs IS
    'Which repository holds which blob: blobs are stored once for all repositories, and a repository reads (and a push negotiates) only the blobs uploaded to it. Parts and file trackers reference blobs through this link. Garbage collection removes links that nothing references and were not uploaded again within a grace period, then blobs without links.';
COMMENT ON COLUMN repository_blobs.uploaded_at IS 'Last time the blob was put to this repository; a blob put within the grace period is never collected.';

INSERT INTO repository_blobs (repository_id, hash)
SELECT repository_id, hash FROM (
    SELECT repository_id, old_blob_hash AS hash FROM parts WHERE old_blob_hash IS NOT NULL
    UNION SELECT repository_id, new_blob_hash FROM parts WHERE new_blob_hash IS NOT NULL
    UNION SELECT repository_id, blob_hash FROM file_trackers WHERE blob_hash IS NOT NULL
) AS referenced;

CREATE INDEX parts_repository_id_old_blob_hash_idx ON parts (repository_id, old_blob_hash)
    WHERE old_blob_hash IS NOT NULL;
CREATE INDEX parts_repository_id_new_blob_hash_idx ON parts (repository_id, new_blob_hash)
    WHERE new_blob_hash IS NOT NULL;
CREATE INDEX file_trackers_repository_id_blob_hash_idx ON file_trackers (repository_id, blob_hash)
    WHERE blob_hash IS NOT NULL;

ALTER TABLE parts
    ADD CONSTRAINT parts_old_blob_fkey FOREIGN KEY (repository_id, old_blob_hash)
        REFERENCES repository_blobs (repository_id, hash) ON DELETE RESTRICT,
    ADD CONSTRAINT parts_new_blob_fkey FOREIGN KEY (repository_id, new_blob_hash)
        REFERENCES repository_blobs (repository_id, hash) ON DELETE RESTRICT;
ALTER TABLE file_trackers
    ADD CONSTRAINT file_trackers_blob_fkey FOREIGN KEY (repository_id, blob_hash)
        REFERENCES repository_blobs (repository_id, hash) ON DELETE RESTRICT;

CREATE FUNCTION jj_collect_garbage(p_batch integer, p_min_age interval)
RETURNS TABLE (links_deleted integer, blobs_deleted integer, bytes_freed bigint)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_link record;
    v_hash bytea;
    v_unlinked bytea[] := '{}';
    v_size bigint;
BEGIN
    links_deleted := 0;
    blobs_deleted := 0;
    bytes_freed := 0;
    IF p_batch IS NULL OR p_batch < 1 OR p_min_age IS NULL OR p_min_age < interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'batch',
            MESSAGE = 'batch: must be positive, min_age: not negative';
    END IF;
    -- Candidates are locked one by one with SKIP LOCKED: a link that a writer is putting right
    -- now is locked by that writer and skipped. Each is then deleted by a statement of its own,
    -- whose fresh snapshot sees every reference committed meanwhile; a reference still being
    -- inserted waits on our lock and, once we are done, finds the link gone and fails on its
    -- foreign key: it can never point at a deleted blob.
    FOR v_link IN
        SELECT rb.repository_id, rb.hash FROM repository_blobs rb
         WHERE rb.uploaded_at < now() - p_min_age
           AND NOT EXISTS (SELECT FROM parts p WHERE p.repository_id = rb.repository_id
                                                 AND p.new_blob_hash = rb.hash)
           AND NOT EXISTS (SELECT FROM parts p WHERE p.repository_id = rb.repository_id
                                                 AND p.old_blob_hash = rb.hash)
           AND NOT EXISTS (SELECT FROM file_trackers f WHERE f.repository_id = rb.repository_id
                                                         AND f.blob_hash = rb.hash)
         ORDER BY rb.uploaded_at
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED
    LOOP
        DELETE FROM repository_blobs rb
         WHERE rb.repository_id = v_link.repository_id AND rb.hash = v_link.hash
           AND rb.uploaded_at < now() - p_min_age
           AND NOT EXISTS (SELECT FROM parts p WHERE p.repository_id = rb.repository_id
                                                 AND p.new_blob_hash = rb.hash)
           AND NOT EXISTS (SELECT FROM parts p WHERE p.repository_id = rb.repository_id
                                                 AND p.old_blob_hash = rb.hash)
           AND NOT EXISTS (SELECT FROM file_trackers f WHERE f.repository_id = rb.repository_id
                                                         AND f.blob_hash = rb.hash);
        IF FOUND THEN
            links_deleted := links_deleted + 1;
            v_unlinked := v_unlinked || v_link.hash;
        END IF;
    END LOOP;
    -- Blobs left without a link: those just unlinked, and any older orphan.
    FOR v_hash IN
        SELECT b.hash FROM blobs b
         WHERE (b.hash = ANY (v_unlinked)
                OR (b.created_at < now() - p_min_age
                    AND NOT EXISTS (SELECT FROM repository_blobs rb WHERE rb.hash = b.hash)))
         LIMIT p_batch
           FOR UPDATE SKIP LOCKED
    LOOP
        DELETE FROM blobs b
         WHERE b.hash = v_hash
           AND NOT EXISTS (SELECT FROM repository_blobs rb WHERE rb.hash = b.hash)
           AND NOT EXISTS (SELECT FROM parts p WHERE p.new_blob_hash = b.hash)
           AND NOT EXISTS (SELECT FROM parts p WHERE p.old_blob_hash = b.hash)
           AND NOT EXISTS (SELECT FROM file_trackers f WHERE f.blob_hash = b.hash)
        RETURNING b.size INTO v_size;
        IF FOUND THEN
            blobs_deleted := blobs_deleted + 1;
            bytes_freed := bytes_freed + v_size;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;

COMMENT ON FUNCTION jj_collect_garbage(integer, interval) IS
    'One small batch of blob garbage collection: removes up to p_batch repository links that no part or file tracker references and that were not put within p_min_age, then up to p_batch blobs left without any link. Rows are locked one at a time with SKIP LOCKED and rechecked by a fresh statement, so a concurrent put or reference is never lost. Returns what was removed.';

-- --- workspaces -------------------------------------------------------------------------------

ALTER TABLE jj_workspaces
    ADD COLUMN agent_id uuid,
    ADD COLUMN transition_actor_id bigint,
    ADD COLUMN transition_reason text NOT NULL DEFAULT '',
    ADD CONSTRAINT jj_workspaces_transition_reason_check CHECK (char_length(transition_reason) <= 1000);

CREATE INDEX jj_workspaces_repository_id_agent_id_idx ON jj_workspaces (repository_id, agent_id)
    WHERE agent_id IS NOT NULL;

COMMENT ON COLUMN jj_workspaces.agent_id IS 'UUIDv7 of the agent working in the workspace, if an agent does; it holds the workspace''s locks.';
COMMENT ON COLUMN jj_workspaces.transition_actor_id IS 'Who made the last state transition (copied to jj_workspace_transitions).';
COMMENT ON COLUMN jj_workspaces.transition_reason IS 'Why the last state transition was made (copied to jj_workspace_transitions).';

CREATE TABLE jj_workspace_transitions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    workspace_id   uuid NOT NULL,
    from_state     text,
    to_state       text NOT NULL,
    actor_id       bigint,
    agent_id       uuid,
    reason         text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jj_workspace_transitions_from_state_check
        CHECK (from_state IN ('provisioning', 'active', 'stale', 'archived')),
    CONSTRAINT jj_workspace_transitions_to_state_check
        CHECK (to_state IN ('provisioning', 'active', 'stale', 'archived')),
    CONSTRAINT jj_workspace_transitions_reason_check CHECK (char_length(reason) <= 1000),
    CONSTRAINT jj_workspace_transitions_workspace_fkey FOREIGN KEY (repository_id, workspace_id)
        REFERENCES jj_workspaces (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX jj_workspace_transitions_workspace_idx
    ON jj_workspace_transitions (repository_id, workspace_id, id);

CREATE TRIGGER jj_workspace_transitions_refuse_update BEFORE UPDATE ON jj_workspace_transitions
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE jj_workspace_transitions IS
    'The audit trail of jj_workspaces: one row per state a workspace entered (its creation included), with who (actor_id, a user id kept as a plain value so the trail outlives the account), which agent, and why. Written only by the jj_workspaces_audit trigger; append-only.';

CREATE FUNCTION jj_workspaces_audit() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.state IS DISTINCT FROM OLD.state THEN
        INSERT INTO jj_workspace_transitions
            (repository_id, workspace_id, from_state, to_state, actor_id, agent_id, reason)
        VALUES (NEW.repository_id, NEW.id, CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END,
                NEW.state, NEW.transition_actor_id, NEW.agent_id, NEW.transition_reason);
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION jj_workspaces_audit() IS
    'AFTER INSERT OR UPDATE OF state row trigger of jj_workspaces: writes the transition (from, to, actor, agent, reason) to jj_workspace_transitions, whoever changed the state.';

CREATE TRIGGER jj_workspaces_audit AFTER INSERT OR UPDATE OF state ON jj_workspaces
    FOR EACH ROW EXECUTE FUNCTION jj_workspaces_audit();

INSERT INTO jj_workspace_transitions (repository_id, workspace_id, from_state, to_state, reason)
SELECT repository_id, id, NULL, state, 'recorded when the audit trail began' FROM jj_workspaces;
