-- Access in words: roles by name ('read', 'write', 'admin') instead of numeric levels, so no
-- statement outside these functions spells a level. repository_access_level() stays the one
-- rule underneath; repository_guard() (numeric) stays for code of the previous release during a
-- rolling upgrade and goes in a later migration.

CREATE FUNCTION repository_role(p_repository_id bigint, p_user_id bigint) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE repository_access_level(p_repository_id, p_user_id)
               WHEN 3 THEN 'admin' WHEN 2 THEN 'write' WHEN 1 THEN 'read' END
$$;

COMMENT ON FUNCTION repository_role(bigint, bigint) IS
    'The user''s role on the repository by name: admin, write or read (anyone, anonymous included, reads a public repository); NULL when they cannot see it.';

CREATE FUNCTION has_repository_role(p_repository_id bigint, p_user_id bigint, p_role text)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT repository_access_level(p_repository_id, p_user_id)
           >= CASE p_role WHEN 'read' THEN 1 WHEN 'write' THEN 2 WHEN 'admin' THEN 3 END
$$;

COMMENT ON FUNCTION has_repository_role(bigint, bigint, text) IS
    'Whether the user holds at least p_role (read, write, admin) on the repository; NULL for an unknown role name.';

CREATE FUNCTION guard_repository(p_repository_id bigint, p_actor_id bigint, p_role text,
                                 p_writes boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_level smallint := repository_access_level(p_repository_id, p_actor_id);
    v_needed smallint := CASE p_role WHEN 'read' THEN 1 WHEN 'write' THEN 2 WHEN 'admin' THEN 3 END;
BEGIN
    IF v_needed IS NULL THEN
        RAISE EXCEPTION 'guard_repository: unknown role %', p_role USING ERRCODE = 'FDI01';
    END IF;
    IF v_level < 1 THEN
        RAISE EXCEPTION 'repository % not found', p_repository_id
            USING ERRCODE = 'FDN01', TABLE = 'repositories';
    END IF;
    -- An inactive account reads a public repository like anyone, but acts on none.
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_actor_id AND active) THEN
        RAISE EXCEPTION 'user % is not an active account', p_actor_id
            USING ERRCODE = 'FDP01', TABLE = 'users';
    END IF;
    IF v_level < v_needed THEN
        RAISE EXCEPTION 'repository %: this needs the % role', p_repository_id, p_role
            USING ERRCODE = 'FDP01', TABLE = 'repositories';
    END IF;
    IF p_writes AND (SELECT archived FROM repositories WHERE id = p_repository_id) THEN
        RAISE EXCEPTION 'repository % is archived: it is read-only', p_repository_id
            USING ERRCODE = 'FDC01', TABLE = 'repositories', COLUMN = 'archived';
    END IF;
    RETURN p_repository_id;
END
$$;

COMMENT ON FUNCTION guard_repository(bigint, bigint, text, boolean) IS
    'Guard at the head of every actor-checked statement: returns the repository id, or raises FDN01 (the actor cannot see it: a private repository is never revealed), FDP01 (the actor is not an active account, or holds a role below p_role) or FDC01 (p_writes and the repository is archived).';

CREATE FUNCTION require_author_or_role(p_repository_id bigint, p_actor_id bigint,
                                       p_author_id bigint, p_role text, p_action text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF p_author_id IS NOT DISTINCT FROM p_actor_id AND p_actor_id IS NOT NULL
       OR has_repository_role(p_repository_id, p_actor_id, p_role) THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'only the author or a % may %',
            CASE p_role WHEN 'read' THEN 'reader' WHEN 'write' THEN 'writer' ELSE p_role END,
            p_action
        USING ERRCODE = 'FDP01', TABLE = 'repositories';
END
$$;

COMMENT ON FUNCTION require_author_or_role(bigint, bigint, bigint, text, text) IS
    'True when the actor wrote the row (p_author_id) or holds p_role on the repository; else raises FDP01 naming p_action.';

-- Repositories with their owner's name: what every "repository as a viewer sees it" statement
-- selects, whichever domain it belongs to (the viewer's role is added by repository_role()).
CREATE VIEW repository_overview AS
    SELECT r.id, r.owner_id, o.username AS owner, r.name, r.description, r.private, r.archived,
           r.default_bookmark, r.created_at, r.updated_at
      FROM repositories AS r
      JOIN users AS o ON o.id = r.owner_id;

COMMENT ON VIEW repository_overview IS
    'Repositories with the owner''s username; filter with can_read_repository() and add repository_role() for a viewer.';

COMMENT ON FUNCTION repository_guard(bigint, bigint, smallint, boolean) IS
    'Superseded by guard_repository() (roles by name); kept for the previous release during a rolling upgrade.';
