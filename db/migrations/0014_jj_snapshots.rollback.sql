-- Rollback of 0014_jj_snapshots.

COMMENT ON TABLE snapshot_history IS
    'Each working-copy snapshot of a workspace: the snapshot operation and the resulting working-copy commit. A log: append-only; UUIDv7 keys, so (workspace, id) is time order.';
DROP INDEX parts_repository_id_path_idx;
ALTER TABLE parts DROP CONSTRAINT parts_blobs_status_check;
DROP TRIGGER snapshot_history_refuse_truncate ON snapshot_history;
DROP FUNCTION jj_refuse_truncate();
DROP TRIGGER snapshot_history_refuse_delete ON snapshot_history;
DROP FUNCTION jj_snapshot_history_refuse_delete();
