-- A bookmark that takes a name ends any rename recorded from that name, so resolving a name and
-- getting the bookmark of that name always agree (a live bookmark wins over an old rename).

CREATE FUNCTION bookmarks_forget_shadowed_renames() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM renamed_branches
     WHERE repository_id = NEW.repository_id AND old_name = NEW.name;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION bookmarks_forget_shadowed_renames() IS
    'AFTER INSERT/UPDATE OF name on bookmarks: a live bookmark of a name removes the rename recorded from that name, so resolve_ref_name() never sends a live name elsewhere.';

CREATE TRIGGER bookmarks_forget_shadowed_renames AFTER INSERT OR UPDATE OF name ON bookmarks
    FOR EACH ROW EXECUTE FUNCTION bookmarks_forget_shadowed_renames();
