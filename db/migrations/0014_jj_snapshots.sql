-- 0014_jj_snapshots: what parts, file trackers and snapshot history need beyond 0001 and 0009.
--
-- Snapshot history is a log: 0001 refuses UPDATE, and now a DELETE is refused too, unless it
-- is the cascade of the workspace or the operation it logs going away (then the log goes with
-- what it logs, as retention and repository deletion need). A part's blobs agree with its
-- status (an added file has nothing before it, a deleted one nothing after). A file's history
-- (the commits that touched a path) is a range of an index on the path.

CREATE FUNCTION jj_snapshot_history_refuse_delete() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- In a cascade, the parent row is already deleted by an earlier command of this
    -- transaction, so it is no longer visible here.
    IF EXISTS (SELECT FROM jj_workspaces w
                WHERE w.repository_id = OLD.repository_id AND w.id = OLD.workspace_id)
       AND EXISTS (SELECT FROM jj_operations o
                    WHERE o.repository_id = OLD.repository_id
                      AND o.operation_id = OLD.operation_id) THEN
        RAISE EXCEPTION 'snapshot_history is append-only: rows cannot be deleted'
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'snapshot_history_append_only';
    END IF;
    RETURN OLD;
END
$$;

COMMENT ON FUNCTION jj_snapshot_history_refuse_delete() IS
    'BEFORE DELETE row trigger of snapshot_history: refuses (FDC01, snapshot_history_append_only) unless the workspace or the operation of the row is gone, i.e. the delete is their cascade.';

CREATE TRIGGER snapshot_history_refuse_delete BEFORE DELETE ON snapshot_history
    FOR EACH ROW EXECUTE FUNCTION jj_snapshot_history_refuse_delete();

CREATE FUNCTION jj_refuse_truncate() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: it cannot be truncated', TG_TABLE_NAME
        USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_append_only';
END
$$;

COMMENT ON FUNCTION jj_refuse_truncate() IS
    'BEFORE TRUNCATE statement trigger of a log that only cascades may shorten: raises FDC01.';

CREATE TRIGGER snapshot_history_refuse_truncate BEFORE TRUNCATE ON snapshot_history
    FOR EACH STATEMENT EXECUTE FUNCTION jj_refuse_truncate();

ALTER TABLE parts
    ADD CONSTRAINT parts_blobs_status_check
        CHECK ((status <> 'added' OR old_blob_hash IS NULL)
               AND (status <> 'deleted' OR new_blob_hash IS NULL));

CREATE INDEX parts_repository_id_path_idx ON parts (repository_id, path, change_row_id);

COMMENT ON TABLE snapshot_history IS
    'Each working-copy snapshot of a workspace: the snapshot operation and the resulting working-copy commit. A log: append-only (UPDATE, TRUNCATE and any DELETE but the cascade of its workspace or operation are refused); UUIDv7 keys, so (workspace, id) is time order.';
