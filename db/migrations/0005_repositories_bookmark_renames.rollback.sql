-- Rollback of 0005_repositories_bookmark_renames.

DROP TRIGGER IF EXISTS bookmarks_forget_shadowed_renames ON bookmarks;
DROP FUNCTION IF EXISTS bookmarks_forget_shadowed_renames();
