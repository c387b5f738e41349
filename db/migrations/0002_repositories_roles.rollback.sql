-- Rollback of 0002_repositories_roles.

COMMENT ON FUNCTION repository_guard(bigint, bigint, smallint, boolean) IS
    'Guard of write operations: returns the repository id, or raises FDN01 (the actor cannot see it), FDP01 (access level below p_min_level: 1 read, 2 write, 3 admin) or FDC01 (p_write and the repository is archived).';

DROP VIEW IF EXISTS repository_overview;
DROP FUNCTION IF EXISTS require_author_or_role(bigint, bigint, bigint, text, text);
DROP FUNCTION IF EXISTS guard_repository(bigint, bigint, text, boolean);
DROP FUNCTION IF EXISTS has_repository_role(bigint, bigint, text);
DROP FUNCTION IF EXISTS repository_role(bigint, bigint);
