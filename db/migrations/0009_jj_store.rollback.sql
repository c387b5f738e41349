-- Rollback of 0009_jj_store.

DROP TRIGGER IF EXISTS jj_workspaces_audit ON jj_workspaces;
DROP FUNCTION IF EXISTS jj_workspaces_audit();
DROP TABLE IF EXISTS jj_workspace_transitions;
DROP INDEX IF EXISTS jj_workspaces_repository_id_agent_id_idx;
ALTER TABLE jj_workspaces
    DROP CONSTRAINT IF EXISTS jj_workspaces_transition_reason_check,
    DROP COLUMN IF EXISTS transition_reason,
    DROP COLUMN IF EXISTS transition_actor_id,
    DROP COLUMN IF EXISTS agent_id;

DROP FUNCTION IF EXISTS jj_collect_garbage(integer, interval);
ALTER TABLE file_trackers DROP CONSTRAINT IF EXISTS file_trackers_blob_fkey;
ALTER TABLE parts
    DROP CONSTRAINT IF EXISTS parts_new_blob_fkey,
    DROP CONSTRAINT IF EXISTS parts_old_blob_fkey;
DROP INDEX IF EXISTS file_trackers_repository_id_blob_hash_idx;
DROP INDEX IF EXISTS parts_repository_id_new_blob_hash_idx;
DROP INDEX IF EXISTS parts_repository_id_old_blob_hash_idx;
DROP TABLE IF EXISTS repository_blobs;

DROP TRIGGER IF EXISTS changes_hide_rewritten ON changes;
DROP FUNCTION IF EXISTS changes_hide_rewritten();
ALTER TABLE changes
    DROP CONSTRAINT IF EXISTS changes_predecessor_commit_ids_check,
    DROP CONSTRAINT IF EXISTS changes_committer_email_check,
    DROP CONSTRAINT IF EXISTS changes_committer_name_check,
    DROP COLUMN IF EXISTS conflict,
    DROP COLUMN IF EXISTS predecessor_commit_ids,
    DROP COLUMN IF EXISTS committer_email,
    DROP COLUMN IF EXISTS committer_name;
ALTER TABLE changes
    DROP CONSTRAINT changes_change_id_check,
    DROP CONSTRAINT changes_commit_id_check,
    DROP CONSTRAINT changes_parent_commit_ids_check,
    ADD CONSTRAINT changes_change_id_check CHECK (change_id ~ '^[k-z]{32}$'),
    ADD CONSTRAINT changes_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    ADD CONSTRAINT changes_parent_commit_ids_check
        CHECK (cardinality(parent_commit_ids) <= 64
               AND array_position(parent_commit_ids, NULL) IS NULL
               AND array_to_string(parent_commit_ids, ',') ~ '^([0-9a-f]{40}(,[0-9a-f]{40})*)?$');

DROP TRIGGER IF EXISTS jj_operations_record ON jj_operations;
DROP FUNCTION IF EXISTS jj_operations_record();
DROP TABLE IF EXISTS jj_operation_heads;
DROP INDEX IF EXISTS jj_operations_repository_id_ended_at_idx;
ALTER TABLE jj_operations
    DROP CONSTRAINT jj_operations_operation_id_check,
    DROP CONSTRAINT jj_operations_view_id_check,
    DROP CONSTRAINT jj_operations_parent_operation_ids_check,
    ADD CONSTRAINT jj_operations_operation_id_check CHECK (operation_id ~ '^[0-9a-f]{128}$'),
    ADD CONSTRAINT jj_operations_view_id_check CHECK (view_id ~ '^[0-9a-f]{128}$'),
    ADD CONSTRAINT jj_operations_parent_operation_ids_check
        CHECK (cardinality(parent_operation_ids) <= 64
               AND array_position(parent_operation_ids, NULL) IS NULL
               AND array_to_string(parent_operation_ids, ',') ~ '^([0-9a-f]{128}(,[0-9a-f]{128})*)?$');
DROP FUNCTION IF EXISTS jj_is_hex_ids(text[], integer);

DROP FUNCTION IF EXISTS jj_common_prefix_length(text, text);
