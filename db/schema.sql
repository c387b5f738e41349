-- forge_db: the whole schema of a fresh database.
--
-- This file is the single source of truth; db/migrations/ must produce exactly the same catalog
-- (the drift check compares them). It loads on PostgreSQL 15 and 18 and needs no extension.
--
-- Conventions, applied everywhere:
--   * Everything lives in schema public, snake_case.
--   * Every table has a primary key and created_at timestamptz NOT NULL DEFAULT now().
--     Tables whose rows change carry updated_at, maintained by the one trigger function
--     set_updated_at(). Tables without updated_at are immutable: refuse_update() rejects UPDATE,
--     so "no updated_at" is a promise the database keeps, not a convention.
--   * Enum-like columns are text with a named CHECK (never enum types: adding a value to a CHECK
--     is one transactional statement, and the vocabulary reads in \d+).
--   * Human-scale rows use bigint identities; machine-rate rows use UUIDv7 (time-ordered, so
--     keyset pagination by id is pagination by creation time, and inserts stay index-local).
--   * Case-insensitive uniqueness is a unique index on lower(col).
--   * Every user-supplied text has a length limit, as a named CHECK.
--   * Every foreign key has a deliberate ON DELETE: CASCADE for owned children, SET NULL for
--     authorship (history survives a deleted user), RESTRICT for shared content-addressed blobs.
--     Every foreign key is backed by an index whose leading columns are the key's columns.
--   * Rows scoped to a repository carry repository_id. When a row references two rows of the
--     same repository, the foreign keys are composite (repository_id, x_id), so rows of two
--     repositories can never be mixed (a private row can never be reached through a public one).
--   * Functions and triggers raise SQLSTATEs of class FD, mapped by the Python layer:
--     FDN01 not found, FDA01 already exists, FDC01 conflict (state machine, cycle, limit,
--     concurrency refusal), FDI01 invalid input, FDP01 permission denied.
--   * jj ids are text with format CHECKs and COLLATE "C", so a prefix lookup
--     (col >= $p AND col < $p || '~') is a btree range scan.
--
-- Sections: 0 foundations, 1 users, 2 auth, 3 repositories, 4 issues, 5 collaboration,
-- 6 landing & review, 7 jj & changes, 8 infrastructure & coordination, 9 workflows & agents.


-- =============================================================================================
-- 0. Foundations: shared functions used by the tables below
-- =============================================================================================

-- RFC 9562 UUIDv7: 48-bit unix epoch milliseconds, version 7, 12 bits of sub-millisecond
-- precision (method 3 of RFC 9562 section 6.2, as PostgreSQL 18's uuidv7() does), the variant,
-- then 62 random bits. The random part comes from gen_random_uuid(), whose variant bits are
-- already 10. One body on every server version, so the drift check sees one catalog; the
-- built-in uuidv7() of PostgreSQL 18 is not used for that reason.
CREATE FUNCTION uuid_generate_v7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
    SELECT encode(
               substring(int8send(t.us / 1000) FROM 3)                         -- 48-bit ms
            || int2send((28672 + ((t.us % 1000) * 4096 / 1000))::smallint)     -- 0x7000 | 12-bit fraction
            || substring(uuid_send(gen_random_uuid()) FROM 9),                 -- variant + random
           'hex')::uuid
    FROM (SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us) AS t
$$;

COMMENT ON FUNCTION uuid_generate_v7() IS
    'RFC 9562 UUIDv7 (unix ms, 12-bit sub-ms fraction, random rest): default id of machine-rate rows. Same body on PostgreSQL 15 and 18.';

-- The one updated_at trigger function. now() is the transaction start time, so every row a
-- transaction touches gets the same updated_at; that keeps a multi-row operation one instant.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION set_updated_at() IS
    'BEFORE UPDATE row trigger shared by every table with an updated_at column.';

-- Immutable (append-only) tables attach this as a BEFORE UPDATE trigger. DELETE stays allowed:
-- retention and ON DELETE CASCADE must still work.
CREATE FUNCTION refuse_update() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: rows cannot be updated', TG_TABLE_NAME
        USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_append_only';
END
$$;

COMMENT ON FUNCTION refuse_update() IS
    'BEFORE UPDATE row trigger of append-only tables: raises FDC01 (constraint name <table>_append_only).';

-- State machines, declared where the trigger is created: each argument is one allowed
-- transition 'from>to'. Unchanged states always pass (a lease renewal, an attempt count).
CREATE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.state IS DISTINCT FROM OLD.state
       AND NOT (OLD.state || '>' || NEW.state) = ANY (TG_ARGV) THEN
        RAISE EXCEPTION '%: state cannot change from % to %', TG_TABLE_NAME, OLD.state, NEW.state
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, COLUMN = 'state',
                  CONSTRAINT = TG_TABLE_NAME || '_state_transition';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION enforce_state_transition() IS
    'BEFORE UPDATE OF state row trigger; its arguments list the allowed transitions as ''from>to''. Refusal raises FDC01.';

-- Lets a single statement refuse with a typed error from inside an expression, e.g.
-- coalesce((SELECT id ...), raise_error('FDN01', 'issue #7 not found')) or
-- CASE WHEN ... THEN raise_error('FDI01', '...') END. VOLATILE, so the planner never evaluates
-- it ahead of time: it raises only when the branch that calls it is reached. It never returns;
-- bigint is declared so that it fits where ids are expected.
CREATE FUNCTION raise_error(p_sqlstate text, p_message text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF p_sqlstate IS NULL OR p_sqlstate !~ '^FD[A-Z0-9]{3}$' THEN
        RAISE EXCEPTION 'raise_error: % is not a forge SQLSTATE (class FD)', p_sqlstate
            USING ERRCODE = 'FDI01';
    END IF;
    RAISE EXCEPTION USING ERRCODE = p_sqlstate, MESSAGE = coalesce(p_message, p_sqlstate);
END
$$;

COMMENT ON FUNCTION raise_error(text, text) IS
    'Raises an error of class FD (FDN01 not found, FDA01 already exists, FDC01 conflict, FDI01 invalid input, FDP01 permission denied) with the message given; usable inside expressions. Never returns.';

-- A refusal of bad input from inside a statement that names the input, as a check in Python
-- would: InvalidInput with its field, so callers (and HTTP 422 bodies) know which one.

CREATE FUNCTION raise_invalid(p_field text, p_message text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = p_field,
        MESSAGE = p_field || ': ' || coalesce(p_message, 'is not valid');
END
$$;

COMMENT ON FUNCTION raise_invalid(text, text) IS
    'Raises FDI01 (invalid input) naming the input p_field (reported as the error''s column) with the message "<p_field>: <p_message>"; usable inside expressions like raise_error(). Never returns.';

-- Git/jj reference names (bookmarks, branches): the rules of git check-ref-format that matter
-- for safety, so a name is always usable as a ref, a URL segment and a CLI argument.
CREATE FUNCTION is_valid_ref_name(p_name text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT char_length(p_name) BETWEEN 1 AND 255
       AND p_name !~ '[[:cntrl:][:space:]~^:?*\[\\]'
       AND p_name !~ '(^|/)\.|\.\.|@\{|//|^/|/$|\.lock(/|$)|\.$|^-'
       AND p_name <> '@'
$$;

COMMENT ON FUNCTION is_valid_ref_name(text) IS
    'True when the text is a valid bookmark/branch name (git check-ref-format rules, at most 255 characters).';

-- Glob patterns of protected branches: ** matches anything, * and ? match within one path
-- segment. Regex metacharacters of the pattern are escaped first, so a pattern can never be a
-- regex injection. chr(1) stands in for ** while * is rewritten (names cannot contain it).
CREATE FUNCTION branch_pattern_matches(p_pattern text, p_name text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT p_name ~ ('^' || replace(replace(replace(replace(
               regexp_replace(p_pattern, '([.+^$(){}|\[\]\\])', '\\\1', 'g'),
               '**', chr(1)), '?', '[^/]'), '*', '[^/]*'), chr(1), '.*') || '$')
$$;

COMMENT ON FUNCTION branch_pattern_matches(text, text) IS
    'Glob match of a protected-branch pattern against a bookmark name: ** any characters, * and ? within one /-separated segment.';


-- =============================================================================================
-- 1. Users
-- =============================================================================================

CREATE FUNCTION wallet_username(p_wallet text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    v_number numeric := 0;
    v_digits text := '';
    v_i integer;
BEGIN
    IF p_wallet !~ '^0x[0-9a-f]{40}$' THEN
        RETURN NULL;
    END IF;
    FOR v_i IN 3..42 LOOP
        v_number := v_number * 16 + (position(substr(p_wallet, v_i, 1) IN '0123456789abcdef') - 1);
    END LOOP;
    FOR v_i IN 1..31 LOOP
        v_digits := substr('0123456789abcdefghijklmnopqrstuvwxyz', (v_number % 36)::integer + 1, 1)
                    || v_digits;
        v_number := div(v_number, 36);
    END LOOP;
    RETURN 'eth-' || v_digits;
END
$$;

COMMENT ON FUNCTION wallet_username(text) IS
    'The username a wallet''s first sign-in takes: eth- and the whole 160-bit address in 31 base-36 digits (injective, so no other account can hold it); NULL for a non-canonical address.';

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        text NOT NULL,
    wallet_address  text,
    display_name    text,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- 1-39 of [A-Za-z0-9-], no leading, trailing or double hyphen (GitHub's rule, so names
    -- are portable between forges).
    CONSTRAINT users_username_check
        CHECK (char_length(username) <= 39 AND username ~ '^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$'),
    -- Canonical form only (lowercase); EIP-55 checksums are verified and folded by the caller,
    -- so equality and uniqueness are plain text comparisons.
    CONSTRAINT users_wallet_address_check
        CHECK (wallet_address ~ '^0x[0-9a-f]{40}$'),
    -- wallet_username() is the name a wallet's first sign-in takes, derived from the whole
    -- address: only that wallet's account may hold it, so no one can squat the name a sign-in
    -- will need. Names of the earlier form, eth-<first 16 hex digits>, stay reserved to the
    -- wallets they were derived from.
    CONSTRAINT users_username_reserved_check
        CHECK ((lower(username) !~ '^eth-[0-9a-f]{16}$'
                OR (wallet_address IS NOT NULL AND lower(username) = 'eth-' || substr(wallet_address, 3, 16)))
               AND (lower(username) !~ '^eth-[0-9a-z]{31}$'
                    OR lower(username) IS NOT DISTINCT FROM wallet_username(wallet_address))),
    CONSTRAINT users_display_name_check
        CHECK (char_length(display_name) <= 255)
);

CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE UNIQUE INDEX users_wallet_address_key ON users (wallet_address);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE users IS
    'People and agents with an account. Addressed by id; username is unique case-insensitively.';
COMMENT ON COLUMN users.username IS
    'Shown as typed; unique on lower(username) (users_username_lower_key).';
COMMENT ON COLUMN users.wallet_address IS
    'Ethereum address used for Sign-In with Ethereum, lowercase 0x + 40 hex. NULL for accounts that authenticate only with access tokens (agents, bots).';
COMMENT ON COLUMN users.active IS
    'false = deactivated: cannot sign in, sessions and tokens stop working, and repository_access_level() grants nothing beyond public read.';

-- Sign-in's account for a wallet: the existing one, else a new one named wallet_username().
-- Two first sign-ins of one wallet race on the unique indexes of users; the loser's INSERT
-- fails with unique_violation (on whichever index it reaches first), and the retry reads the
-- winner's row with a fresh snapshot, so every caller gets the same account.
CREATE FUNCTION find_or_create_wallet_user(p_wallet text)
RETURNS TABLE (id bigint, username text, wallet_address text, display_name text, active boolean,
               created_at timestamptz, updated_at timestamptz, created boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
    v_attempt integer;
BEGIN
    FOR v_attempt IN 1..3 LOOP
        RETURN QUERY
            SELECT u.id, u.username, u.wallet_address, u.display_name, u.active, u.created_at,
                   u.updated_at, false
              FROM users AS u WHERE u.wallet_address = p_wallet;
        IF FOUND THEN
            RETURN;
        END IF;
        BEGIN
            RETURN QUERY
                INSERT INTO users AS u (username, wallet_address)
                VALUES (wallet_username(p_wallet), p_wallet)
                RETURNING u.id, u.username, u.wallet_address, u.display_name, u.active,
                          u.created_at, u.updated_at, true;
            RETURN;
        EXCEPTION WHEN unique_violation THEN
            NULL;  -- a concurrent first sign-in of this wallet won: read its row
        END;
    END LOOP;
    RAISE EXCEPTION 'no account could be made for wallet %', p_wallet
        USING ERRCODE = 'FDU01', HINT = 'account_conflict';
END
$$;

COMMENT ON FUNCTION find_or_create_wallet_user(text) IS
    'Sign-in''s account for a canonical wallet address: the existing one (created false), else a new one named wallet_username() (created true); concurrent first sign-ins of one wallet all get the one account.';



CREATE TABLE email_addresses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email        text NOT NULL,
    verified_at  timestamptz,
    verified     boolean NOT NULL GENERATED ALWAYS AS (verified_at IS NOT NULL) STORED,
    is_primary   boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT email_addresses_email_check
        CHECK (char_length(email) BETWEEN 3 AND 254
               AND email ~ '^[^@[:space:][:cntrl:]]+@[^@[:space:][:cntrl:]]+$')
);

CREATE UNIQUE INDEX email_addresses_email_lower_key ON email_addresses (lower(email));
-- At most one primary per user; "exactly one" is the caller's job, because a user may have no
-- address at all. An exclusion constraint rather than a unique index because it can be
-- deferred to the end of the statement: one UPDATE can then move the flag from the old primary
-- to the new one whatever order it visits the two rows in.
ALTER TABLE email_addresses ADD CONSTRAINT email_addresses_one_primary_excl
    EXCLUDE USING btree (user_id WITH =) WHERE (is_primary) DEFERRABLE INITIALLY IMMEDIATE;
CREATE INDEX email_addresses_user_id_idx ON email_addresses (user_id, id);

CREATE TRIGGER email_addresses_set_updated_at BEFORE UPDATE ON email_addresses
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE email_addresses IS
    'A user''s email addresses; unique across all users case-insensitively, at most one primary per user.';
COMMENT ON COLUMN email_addresses.verified IS
    'Derived from verified_at, so the flag and the time can never disagree.';


-- =============================================================================================
-- 2. Auth: Sign-In with Ethereum nonces, browser sessions, access tokens
-- =============================================================================================

CREATE TABLE siwe_nonces (
    nonce        text PRIMARY KEY,
    domain       text,
    address      text,
    expires_at   timestamptz NOT NULL,
    consumed_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    -- EIP-4361 asks for at least 8 alphanumerics; 16 keeps guessing out of reach.
    CONSTRAINT siwe_nonces_nonce_check CHECK (nonce ~ '^[A-Za-z0-9]{16,128}$'),
    CONSTRAINT siwe_nonces_domain_check
        CHECK (char_length(domain) BETWEEN 1 AND 253 AND domain !~ '[[:space:][:cntrl:]]'),
    CONSTRAINT siwe_nonces_address_check CHECK (address ~ '^0x[0-9a-f]{40}$')
);

CREATE INDEX siwe_nonces_expires_at_idx ON siwe_nonces (expires_at);

CREATE TRIGGER siwe_nonces_set_updated_at BEFORE UPDATE ON siwe_nonces
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE siwe_nonces IS
    'EIP-4361 nonces. Single use: sign-in consumes one with UPDATE ... SET consumed_at = now() WHERE consumed_at IS NULL AND expires_at > now(), which exactly one concurrent replay can win. Expired rows are purged by expires_at.';
COMMENT ON COLUMN siwe_nonces.domain IS
    'When set, the signed message must name this domain (RFC 3986 authority).';
COMMENT ON COLUMN siwe_nonces.address IS
    'When set, only this wallet (canonical lowercase) may use the nonce.';
COMMENT ON COLUMN siwe_nonces.consumed_at IS 'Set when a sign-in uses the nonce; a consumed nonce never works again.';


CREATE TABLE auth_sessions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_digest         bytea NOT NULL,
    expires_at           timestamptz NOT NULL,
    idle_timeout         interval NOT NULL,
    absolute_expires_at  timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL DEFAULT now(),
    user_agent           text,
    ip                   inet,
    revoked_at           timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT auth_sessions_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT auth_sessions_token_digest_key UNIQUE (token_digest),
    -- Sliding expiry never passes the absolute limit: refreshing uses least(..., absolute).
    CONSTRAINT auth_sessions_expiry_check CHECK (expires_at <= absolute_expires_at),
    CONSTRAINT auth_sessions_idle_timeout_check
        CHECK (idle_timeout > interval '0' AND idle_timeout <= interval '366 days'),
    CONSTRAINT auth_sessions_user_agent_check CHECK (char_length(user_agent) <= 1024)
);

CREATE INDEX auth_sessions_user_id_idx ON auth_sessions (user_id, created_at, id);
CREATE INDEX auth_sessions_expires_at_idx ON auth_sessions (expires_at);

CREATE TRIGGER auth_sessions_set_updated_at BEFORE UPDATE ON auth_sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE auth_sessions IS
    'Browser sessions created by Sign-In with Ethereum. The token is shown once; only its SHA-256 digest is stored.';
COMMENT ON COLUMN auth_sessions.token_digest IS 'sha256(token), 32 bytes; the token itself is never stored.';
COMMENT ON COLUMN auth_sessions.expires_at IS
    'Sliding expiry, extended on use (when more than half of its lifetime has passed), never beyond absolute_expires_at.';
COMMENT ON COLUMN auth_sessions.idle_timeout IS
    'The sliding window: a use after more than half of it has passed moves expires_at to now() + idle_timeout (capped by absolute_expires_at).';
COMMENT ON COLUMN auth_sessions.absolute_expires_at IS 'Hard end of the session, however active it is.';
COMMENT ON COLUMN auth_sessions.revoked_at IS 'Set by sign-out or revoke-all; a revoked session never works again.';
COMMENT ON COLUMN auth_sessions.last_seen_at IS 'Last authenticated request (refreshed together with the sliding expiry).';
COMMENT ON COLUMN auth_sessions.ip IS 'Client address at sign-in.';


CREATE TABLE access_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_digest  bytea NOT NULL,
    token_hint    text NOT NULL,
    scopes        text[] NOT NULL,
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT access_tokens_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND btrim(name) <> '' AND name !~ '[[:cntrl:]]'),
    CONSTRAINT access_tokens_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT access_tokens_token_digest_key UNIQUE (token_digest),
    CONSTRAINT access_tokens_token_hint_check CHECK (token_hint ~ '^[A-Za-z0-9_]{4,16}$'),
    CONSTRAINT access_tokens_scopes_check
        CHECK (cardinality(scopes) BETWEEN 1 AND 16
               AND array_position(scopes, NULL) IS NULL
               AND scopes <@ ARRAY['repo:read', 'repo:write', 'repo:admin', 'issues:read', 'issues:write',
                                   'user:read', 'user:write', 'workflows:write', 'admin']::text[])
);

-- Names are unique among a user's live tokens; a revoked token frees its name.
CREATE UNIQUE INDEX access_tokens_user_id_name_lower_key
    ON access_tokens (user_id, lower(name)) WHERE revoked_at IS NULL;
CREATE INDEX access_tokens_user_id_idx ON access_tokens (user_id, created_at, id);

CREATE TRIGGER access_tokens_set_updated_at BEFORE UPDATE ON access_tokens
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE access_tokens IS
    'Personal access tokens for the API and agents: named, scoped, optionally expiring. Shown once; only the SHA-256 digest is stored.';
COMMENT ON COLUMN access_tokens.token_hint IS
    'The recognisable prefix and a few leading characters (e.g. fdb_a1B2), so a user can tell tokens apart and a leaked token can be matched; never enough to use it.';
COMMENT ON COLUMN access_tokens.scopes IS
    'Fixed vocabulary (access_tokens_scopes_check). admin implies every other scope; the caller decides implication.';
COMMENT ON COLUMN access_tokens.last_used_at IS
    'Refreshed at most once a minute (UPDATE ... WHERE last_used_at < now() - interval ''1 minute''), so verification does not write on every call.';
COMMENT ON COLUMN access_tokens.expires_at IS 'NULL = does not expire (until revoked).';
COMMENT ON COLUMN access_tokens.revoked_at IS 'Set on revoke; a revoked token never works again and frees its name.';


-- =============================================================================================
-- 3. Repositories: repositories, redirects, collaborators and access, branches and bookmarks
-- =============================================================================================

CREATE TABLE repositories (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL,
    description       text NOT NULL DEFAULT '',
    private           boolean NOT NULL DEFAULT false,
    archived          boolean NOT NULL DEFAULT false,
    default_bookmark  text NOT NULL DEFAULT 'main',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- 1-100 of [A-Za-z0-9._-], not . or .., not ending in .git (any case): the name is a path
    -- segment of clone URLs.
    CONSTRAINT repositories_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100
               AND name ~ '^[A-Za-z0-9._-]+$'
               AND name NOT IN ('.', '..')
               AND lower(name) !~ '\.git$'),
    CONSTRAINT repositories_description_check CHECK (char_length(description) <= 2000),
    CONSTRAINT repositories_default_bookmark_check CHECK (is_valid_ref_name(default_bookmark))
);

CREATE UNIQUE INDEX repositories_owner_id_name_lower_key ON repositories (owner_id, lower(name));
CREATE INDEX repositories_owner_id_updated_at_idx ON repositories (owner_id, updated_at, id);
-- The public catalogue ("explore"), newest first by keyset.
CREATE INDEX repositories_public_created_at_idx ON repositories (created_at, id) WHERE NOT private;

CREATE TRIGGER repositories_set_updated_at BEFORE UPDATE ON repositories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE repositories IS
    'jj repositories, owned by a user; name unique per owner case-insensitively. Renames leave a row in repository_redirects.';
COMMENT ON COLUMN repositories.private IS
    'Private repositories are invisible (not found, not forbidden) to anyone without a role: see repository_access_level().';
COMMENT ON COLUMN repositories.archived IS 'Read-only: the data layer refuses writes with Conflict.';
COMMENT ON COLUMN repositories.default_bookmark IS 'The jj bookmark shown and landed on by default.';


CREATE TABLE repository_redirects (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    old_name       text NOT NULL,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT repository_redirects_old_name_check CHECK (char_length(old_name) BETWEEN 1 AND 100)
);

CREATE UNIQUE INDEX repository_redirects_owner_id_old_name_lower_key
    ON repository_redirects (owner_id, lower(old_name));
CREATE INDEX repository_redirects_repository_id_idx ON repository_redirects (repository_id);

CREATE TRIGGER repository_redirects_set_updated_at BEFORE UPDATE ON repository_redirects
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE repository_redirects IS
    'Former owner/name pairs of renamed or transferred repositories, so old URLs keep resolving. Maintained by the repositories_redirects trigger: a rename records the old name, and a repository taking a name drops the redirect it shadows.';
COMMENT ON COLUMN repository_redirects.old_name IS 'The former name, as it was spelled; matched case-insensitively.';
COMMENT ON COLUMN repository_redirects.owner_id IS 'The former owner (differs from the repository''s owner after a transfer).';

-- A rename is one UPDATE of repositories; the redirect bookkeeping follows in the same
-- statement, so no caller can forget it and a live name always wins over a redirect.
CREATE FUNCTION repositories_maintain_redirects() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM repository_redirects
     WHERE owner_id = NEW.owner_id AND lower(old_name) = lower(NEW.name);
    IF TG_OP = 'UPDATE' AND (OLD.owner_id, lower(OLD.name)) IS DISTINCT FROM (NEW.owner_id, lower(NEW.name)) THEN
        INSERT INTO repository_redirects AS r (owner_id, old_name, repository_id)
        VALUES (OLD.owner_id, OLD.name, NEW.id)
        ON CONFLICT (owner_id, lower(old_name))
        DO UPDATE SET old_name = EXCLUDED.old_name, repository_id = EXCLUDED.repository_id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION repositories_maintain_redirects() IS
    'AFTER INSERT/UPDATE OF owner_id, name on repositories: records the old name on rename or transfer and removes a redirect shadowed by a live repository.';

CREATE TRIGGER repositories_redirects AFTER INSERT OR UPDATE OF owner_id, name ON repositories
    FOR EACH ROW EXECUTE FUNCTION repositories_maintain_redirects();


CREATE TABLE repository_collaborators (
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role           text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, user_id),
    CONSTRAINT repository_collaborators_role_check CHECK (role IN ('read', 'write', 'admin'))
);

-- "Repositories I collaborate on" and the user foreign key.
CREATE INDEX repository_collaborators_user_id_idx ON repository_collaborators (user_id, repository_id);

CREATE TRIGGER repository_collaborators_set_updated_at BEFORE UPDATE ON repository_collaborators
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE repository_collaborators IS
    'Roles granted on a repository: read < write < admin. The owner is admin without a row here.';
COMMENT ON COLUMN repository_collaborators.role IS 'read < write < admin.';


-- The single permission rule. Every viewer-aware query filters with this function (or
-- can_read_repository), so the rule lives in one place:
--   owner -> 3 admin; collaborator -> role (read 1, write 2, admin 3); public -> at least 1 for
--   anyone, anonymous (NULL) included; an inactive user counts as anonymous; else 0.
-- A scalar SQL function that reads tables is not inlined by the planner (inlining needs a body
-- without FROM or sub-selects); it is planned once per calling query and costs two primary-key
-- probes per row, which keeps it cheap enough for page-sized row counts.
CREATE FUNCTION repository_access_level(p_repository_id bigint, p_user_id bigint) RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT coalesce((
        SELECT greatest(
                   CASE WHEN r.private THEN 0 ELSE 1 END,
                   CASE WHEN u.id IS NULL THEN 0
                        WHEN r.owner_id = u.id THEN 3
                        ELSE CASE c.role WHEN 'admin' THEN 3 WHEN 'write' THEN 2 WHEN 'read' THEN 1 ELSE 0 END
                   END)
          FROM repositories AS r
          LEFT JOIN users AS u ON u.id = p_user_id AND u.active
          LEFT JOIN repository_collaborators AS c ON c.repository_id = r.id AND c.user_id = u.id
         WHERE r.id = p_repository_id), 0)::smallint
$$;

COMMENT ON FUNCTION repository_access_level(bigint, bigint) IS
    'The one permission rule: 0 none, 1 read, 2 write, 3 admin. Owner 3; collaborator by role; public repositories give 1 to anyone including NULL (anonymous); inactive users count as anonymous; unknown repository 0.';

CREATE FUNCTION can_read_repository(p_repository_id bigint, p_user_id bigint) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT repository_access_level(p_repository_id, p_user_id) >= 1
$$;

COMMENT ON FUNCTION can_read_repository(bigint, bigint) IS
    'repository_access_level(...) >= 1: the visibility filter of every read that can reach a private repository.';

-- The guard of every write: one call at the head of a statement either returns the repository
-- id or raises the error the caller must see, in this order: a repository the actor cannot see
-- does not exist for them (FDN01, never FDP01, so private names do not leak); a role below the
-- operation's minimum is FDP01; a write to an archived repository is FDC01. VOLATILE so it runs
-- exactly where the statement reaches it, never during planning.
CREATE FUNCTION repository_guard(p_repository_id bigint, p_actor_id bigint, p_min_level smallint,
                                 p_write boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_level smallint := repository_access_level(p_repository_id, p_actor_id);
BEGIN
    IF v_level < 1 THEN
        RAISE EXCEPTION 'repository % not found', p_repository_id
            USING ERRCODE = 'FDN01', TABLE = 'repositories';
    END IF;
    IF v_level < p_min_level THEN
        RAISE EXCEPTION 'repository %: this needs the % role', p_repository_id,
                CASE p_min_level WHEN 1 THEN 'read' WHEN 2 THEN 'write' ELSE 'admin' END
            USING ERRCODE = 'FDP01', TABLE = 'repositories';
    END IF;
    IF p_write AND (SELECT archived FROM repositories WHERE id = p_repository_id) THEN
        RAISE EXCEPTION 'repository % is archived: it is read-only', p_repository_id
            USING ERRCODE = 'FDC01', TABLE = 'repositories', COLUMN = 'archived';
    END IF;
    RETURN p_repository_id;
END
$$;

COMMENT ON FUNCTION repository_guard(bigint, bigint, smallint, boolean) IS
    'Superseded by guard_repository() (roles by name); kept for the previous release during a rolling upgrade.';

-- Access in words: roles by name ('read', 'write', 'admin') instead of numeric levels, so no
-- statement outside these functions spells a level. repository_access_level() is the one rule
-- underneath.
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


CREATE TABLE branches (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name           text NOT NULL,
    commit_id      text COLLATE "C" NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT branches_name_check CHECK (is_valid_ref_name(name)),
    CONSTRAINT branches_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT branches_repository_id_name_key UNIQUE (repository_id, name)
);

CREATE TRIGGER branches_set_updated_at BEFORE UPDATE ON branches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE branches IS
    'Git branches of the repository''s git backend (what git clients see): one target commit each, never conflicted. jj''s own refs are bookmarks.';


CREATE TABLE bookmarks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name           text NOT NULL,
    targets        text[] COLLATE "C" NOT NULL,
    conflicted     boolean NOT NULL GENERATED ALWAYS AS (cardinality(targets) > 1) STORED,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bookmarks_name_check CHECK (is_valid_ref_name(name)),
    -- One or more commit ids (more than one = conflicted), no NULLs, at most 64 sides.
    CONSTRAINT bookmarks_targets_check
        CHECK (cardinality(targets) BETWEEN 1 AND 64
               AND array_position(targets, NULL) IS NULL
               AND array_to_string(targets, ',') ~ '^[0-9a-f]{40}(,[0-9a-f]{40})*$'),
    CONSTRAINT bookmarks_repository_id_name_key UNIQUE (repository_id, name)
);

CREATE TRIGGER bookmarks_set_updated_at BEFORE UPDATE ON bookmarks
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE bookmarks IS
    'jj bookmarks (named pointers to commits). A bookmark moved concurrently to different commits is conflicted: it has several targets until resolved.';
COMMENT ON COLUMN bookmarks.targets IS 'Commit ids (40 hex) the bookmark points at; more than one means conflicted.';
COMMENT ON COLUMN bookmarks.conflicted IS 'Derived: cardinality(targets) > 1.';


CREATE TABLE protected_branches (
    id                        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id             bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    pattern                   text NOT NULL,
    required_approvals        smallint NOT NULL DEFAULT 0,
    required_status_contexts  text[] NOT NULL DEFAULT '{}',
    land_min_role             text NOT NULL DEFAULT 'write',
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    -- A glob over ref names: valid once its wildcards are read as ordinary characters.
    CONSTRAINT protected_branches_pattern_check
        CHECK (is_valid_ref_name(translate(pattern, '*?', 'xx'))),
    CONSTRAINT protected_branches_required_approvals_check CHECK (required_approvals BETWEEN 0 AND 100),
    CONSTRAINT protected_branches_required_status_contexts_check
        CHECK (cardinality(required_status_contexts) <= 50
               AND array_position(required_status_contexts, NULL) IS NULL
               AND array_position(required_status_contexts, '') IS NULL
               AND char_length(array_to_string(required_status_contexts, '')) <= 50 * 255),
    CONSTRAINT protected_branches_land_min_role_check CHECK (land_min_role IN ('write', 'admin')),
    CONSTRAINT protected_branches_repository_id_pattern_key UNIQUE (repository_id, pattern)
);

CREATE TRIGGER protected_branches_set_updated_at BEFORE UPDATE ON protected_branches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE protected_branches IS
    'Landing rules for bookmarks matching a glob pattern. The rules applying to a bookmark: WHERE repository_id = $1 AND branch_pattern_matches(pattern, $2).';
COMMENT ON COLUMN protected_branches.pattern IS 'Glob: ** any characters, * and ? within one /-separated segment.';
COMMENT ON COLUMN protected_branches.required_status_contexts IS
    'commit_statuses contexts that must be success on the commit before it may land.';
COMMENT ON COLUMN protected_branches.land_min_role IS 'Lowest collaborator role allowed to land on a matching bookmark.';


CREATE TABLE renamed_branches (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    old_name       text NOT NULL,
    new_name       text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT renamed_branches_old_name_check CHECK (is_valid_ref_name(old_name)),
    CONSTRAINT renamed_branches_new_name_check CHECK (is_valid_ref_name(new_name)),
    CONSTRAINT renamed_branches_distinct_check CHECK (old_name <> new_name),
    CONSTRAINT renamed_branches_repository_id_old_name_key UNIQUE (repository_id, old_name)
);

CREATE TRIGGER renamed_branches_set_updated_at BEFORE UPDATE ON renamed_branches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE renamed_branches IS
    'Old bookmark/branch name -> new name, so links and scripts using the old name resolve. A chain (a -> b -> c) is followed by the resolver.';


-- The resolver of the comment above: follows old -> new through renamed_branches, at most 16
-- hops (a chain longer than that, or a cycle from renames back and forth, stops there).
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

CREATE FUNCTION resolve_ref_name(p_repository_id bigint, p_name text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    WITH RECURSIVE chain (name, depth) AS (
        SELECT p_name, 0
        UNION ALL
        SELECT r.new_name, chain.depth + 1
          FROM chain
          JOIN renamed_branches AS r ON r.repository_id = p_repository_id AND r.old_name = chain.name
         WHERE chain.depth < 16
    )
    SELECT name FROM chain ORDER BY depth DESC LIMIT 1
$$;

COMMENT ON FUNCTION resolve_ref_name(bigint, text) IS
    'The current name of a bookmark or branch given any of its former names (itself when never renamed), following renamed_branches.';


-- =============================================================================================
-- 4. Issues: counters and numbering, issues, comments, labels, milestones, assignees,
--    dependencies, subtasks, pins
-- =============================================================================================

CREATE TABLE issue_counters (
    repository_id       bigint PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    last_number         bigint NOT NULL DEFAULT 0,
    open_issue_count    bigint NOT NULL DEFAULT 0,
    closed_issue_count  bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT issue_counters_last_number_check CHECK (last_number >= 0)
);

CREATE TRIGGER issue_counters_set_updated_at BEFORE UPDATE ON issue_counters
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE issue_counters IS
    'One row per repository: the number sequence shared by issues, landing requests and pull requests, and the O(1) open/closed issue counts kept by the issues_counts trigger.';
COMMENT ON COLUMN issue_counters.last_number IS
    'Highest number handed out. get_next_issue_number() increments it under the row lock, which is held until the caller commits: numbers are gapless and never duplicated, at the price of serialising number allocation per repository.';
COMMENT ON COLUMN issue_counters.open_issue_count IS
    'Maintained by trigger in the same row the number allocation already locks. Not CHECKed >= 0 on purpose: a drifted counter must never block a user''s write; check_issue_counts() reports drift.';
COMMENT ON COLUMN issue_counters.closed_issue_count IS 'Maintained like open_issue_count.';

CREATE FUNCTION get_next_issue_number(p_repository_id bigint) RETURNS bigint
LANGUAGE sql VOLATILE
AS $$
    INSERT INTO issue_counters AS c (repository_id, last_number)
    VALUES (p_repository_id, 1)
    ON CONFLICT (repository_id) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number
$$;

COMMENT ON FUNCTION get_next_issue_number(bigint) IS
    'Next number of the repository''s shared issue / landing request / pull request sequence. Call it inside the INSERT of the numbered row: the counter row stays locked until commit and a rollback returns the number, so committed numbers are exactly 1..N.';

-- plpgsql rather than sql: it reads landing_queue and pull_requests, created further down.
CREATE FUNCTION repair_issue_counter(p_repository_id bigint) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_last bigint;
BEGIN
    INSERT INTO issue_counters AS c (repository_id, last_number)
    VALUES (p_repository_id,
            greatest((SELECT max(number) FROM issues WHERE repository_id = p_repository_id),
                     (SELECT max(number) FROM landing_queue WHERE repository_id = p_repository_id),
                     (SELECT max(number) FROM pull_requests WHERE repository_id = p_repository_id),
                     0))
    ON CONFLICT (repository_id) DO UPDATE SET last_number = greatest(c.last_number, EXCLUDED.last_number)
    RETURNING c.last_number INTO v_last;
    RETURN v_last;
END
$$;

COMMENT ON FUNCTION repair_issue_counter(bigint) IS
    'Raises the repository''s counter to the highest number in use by issues, landing requests or pull requests (after a bulk import with triggers disabled) and returns it. Never lowers it.';


CREATE TABLE milestones (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    title          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    state          text NOT NULL DEFAULT 'open',
    due_on         date,
    closed_at      timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT milestones_title_check CHECK (char_length(title) BETWEEN 1 AND 256 AND btrim(title) <> ''),
    CONSTRAINT milestones_description_check CHECK (char_length(description) <= 65536),
    CONSTRAINT milestones_state_check CHECK (state IN ('open', 'closed')),
    CONSTRAINT milestones_closed_check CHECK ((state = 'closed') = (closed_at IS NOT NULL)),
    CONSTRAINT milestones_repository_id_id_key UNIQUE (repository_id, id)
);

CREATE UNIQUE INDEX milestones_repository_id_title_lower_key ON milestones (repository_id, lower(title));
CREATE INDEX milestones_repository_id_state_due_on_idx ON milestones (repository_id, state, due_on, id);

CREATE TRIGGER milestones_set_updated_at BEFORE UPDATE ON milestones
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE milestones IS
    'Per-repository milestones. Progress (open/closed issue counts) is computed, not stored: count(*) over issues_milestone_idx (repository_id, milestone_id, state), an index-only range scan. Storing it would add a second hot row lock to every issue state change.';
COMMENT ON COLUMN milestones.due_on IS 'A calendar date, deliberately without time or zone.';


CREATE TABLE issues (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id    bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    number           bigint NOT NULL,
    author_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    title            text NOT NULL,
    body             text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'open',
    close_reason     text,
    duplicate_of_id  bigint,
    milestone_id     bigint,
    locked           boolean NOT NULL DEFAULT false,
    comment_count    integer NOT NULL DEFAULT 0,
    assignee_count   smallint NOT NULL DEFAULT 0,
    edited_at        timestamptz,
    closed_at        timestamptz,
    -- left() bounds the input: generated columns are computed before CHECKs run, so an
    -- oversized body must reach issues_body_check rather than tsvector's 1 MB limit.
    search_vector    tsvector NOT NULL GENERATED ALWAYS AS (
                         setweight(to_tsvector('simple'::regconfig, left(title, 256)), 'A')
                         || setweight(to_tsvector('simple'::regconfig, left(body, 65536)), 'B')) STORED,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT issues_number_check CHECK (number > 0),
    -- 1..256 characters, not blank; surrounding whitespace is the caller's to trim.
    CONSTRAINT issues_title_check
        CHECK (char_length(title) BETWEEN 1 AND 256 AND btrim(title, E' \t\n\r\f') <> ''),
    CONSTRAINT issues_body_check CHECK (char_length(body) <= 65536),
    CONSTRAINT issues_state_check CHECK (state IN ('open', 'closed')),
    CONSTRAINT issues_close_reason_check CHECK (close_reason IN ('completed', 'not_planned', 'duplicate')),
    -- Open: no reason, no close time, no duplicate. Closed: a reason and a close time. The
    -- duplicate target may be NULL under 'duplicate' (it was deleted: ON DELETE SET NULL).
    CONSTRAINT issues_closed_check
        CHECK (CASE state
                   WHEN 'open' THEN close_reason IS NULL AND closed_at IS NULL
                   ELSE close_reason IS NOT NULL AND closed_at IS NOT NULL
               END),
    CONSTRAINT issues_duplicate_of_check
        CHECK (duplicate_of_id IS NULL OR (close_reason = 'duplicate' AND duplicate_of_id <> id)),
    CONSTRAINT issues_comment_count_check CHECK (comment_count >= 0),
    CONSTRAINT issues_assignee_count_check CHECK (assignee_count BETWEEN 0 AND 10),
    CONSTRAINT issues_repository_id_number_key UNIQUE (repository_id, number),
    CONSTRAINT issues_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT issues_duplicate_of_fkey FOREIGN KEY (repository_id, duplicate_of_id)
        REFERENCES issues (repository_id, id) ON DELETE SET NULL (duplicate_of_id),
    CONSTRAINT issues_milestone_fkey FOREIGN KEY (repository_id, milestone_id)
        REFERENCES milestones (repository_id, id) ON DELETE SET NULL (milestone_id)
);

-- Keyset list orders: by state (the default filter) and across states.
CREATE INDEX issues_repository_id_state_created_at_idx ON issues (repository_id, state, created_at, id);
CREATE INDEX issues_repository_id_state_updated_at_idx ON issues (repository_id, state, updated_at, id);
CREATE INDEX issues_repository_id_state_comment_count_idx ON issues (repository_id, state, comment_count, id);
CREATE INDEX issues_repository_id_created_at_idx ON issues (repository_id, created_at, id);
CREATE INDEX issues_repository_id_updated_at_idx ON issues (repository_id, updated_at, id);
CREATE INDEX issues_repository_id_comment_count_idx ON issues (repository_id, comment_count, id);
-- Author filter within a repository, and the SET NULL on user deletion.
CREATE INDEX issues_author_id_idx ON issues (author_id, repository_id, created_at, id);
-- Milestone filter and milestone progress (index-only counts per state).
CREATE INDEX issues_milestone_idx ON issues (repository_id, milestone_id, state) WHERE milestone_id IS NOT NULL;
CREATE INDEX issues_duplicate_of_idx ON issues (repository_id, duplicate_of_id) WHERE duplicate_of_id IS NOT NULL;
CREATE INDEX issues_search_vector_idx ON issues USING gin (search_vector);

CREATE TRIGGER issues_set_updated_at BEFORE UPDATE ON issues
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE issues IS
    'Issues, addressed by (repository_id, number); the number comes from get_next_issue_number(), shared with landing requests and pull requests.';
COMMENT ON COLUMN issues.author_id IS 'NULL once the author''s account is deleted: the issue stays.';
COMMENT ON COLUMN issues.close_reason IS 'completed | not_planned | duplicate; set exactly when closed (issues_closed_check).';
COMMENT ON COLUMN issues.duplicate_of_id IS 'The issue of the same repository this one duplicates (close_reason = duplicate).';
COMMENT ON COLUMN issues.locked IS 'Conversation locked: only collaborators with write access may comment.';
COMMENT ON COLUMN issues.comment_count IS 'Live (not deleted) comments; maintained by the comments_count trigger.';
COMMENT ON COLUMN issues.assignee_count IS 'Maintained by the issue_assignees_count trigger; its row lock makes the limit of 10 race-free.';
COMMENT ON COLUMN issues.edited_at IS 'Last edit of title or body by a person (updated_at also moves on comments, state and counters).';
COMMENT ON COLUMN issues.search_vector IS
    'Full-text vector, title weight A, body B. The simple configuration on purpose: issue text is multilingual and full of identifiers, paths and error messages that English stemming and stop words would mangle; simple lowercases, so matching is case-insensitive and prefix queries (word:*) work.';
COMMENT ON COLUMN issues.number IS 'Per-repository number (#N), from get_next_issue_number(); unique with repository_id.';
COMMENT ON COLUMN issues.milestone_id IS 'Milestone of the same repository (composite key); NULL when the milestone is deleted.';
COMMENT ON COLUMN issues.closed_at IS 'Set exactly while closed (issues_closed_check).';


-- Open/closed counts follow every insert, state change, transfer and delete. The counter row
-- is the one get_next_issue_number() already locked in the creating transaction, so this adds
-- no new hot spot; an insert that did not allocate its number (an import) creates or raises
-- the counter row itself.
CREATE FUNCTION issues_maintain_counts() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.repository_id = NEW.repository_id THEN
        IF OLD.state IS DISTINCT FROM NEW.state THEN
            UPDATE issue_counters
               SET open_issue_count = open_issue_count + (NEW.state = 'open')::int - (OLD.state = 'open')::int,
                   closed_issue_count = closed_issue_count + (NEW.state = 'closed')::int - (OLD.state = 'closed')::int
             WHERE repository_id = NEW.repository_id;
        END IF;
        IF NEW.number > OLD.number THEN
            UPDATE issue_counters SET last_number = NEW.number
             WHERE repository_id = NEW.repository_id AND last_number < NEW.number;
        END IF;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        -- A plain UPDATE: during a repository's cascading delete the counter row may be gone.
        UPDATE issue_counters
           SET open_issue_count = open_issue_count - (OLD.state = 'open')::int,
               closed_issue_count = closed_issue_count - (OLD.state = 'closed')::int
         WHERE repository_id = OLD.repository_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO issue_counters AS c (repository_id, last_number, open_issue_count, closed_issue_count)
        VALUES (NEW.repository_id, NEW.number, (NEW.state = 'open')::int, (NEW.state = 'closed')::int)
        ON CONFLICT (repository_id) DO UPDATE
           SET last_number = greatest(c.last_number, EXCLUDED.last_number),
               open_issue_count = c.open_issue_count + EXCLUDED.open_issue_count,
               closed_issue_count = c.closed_issue_count + EXCLUDED.closed_issue_count;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION issues_maintain_counts() IS
    'AFTER row trigger on issues: keeps issue_counters.open_issue_count / closed_issue_count exact and last_number at least the highest number inserted.';

CREATE TRIGGER issues_counts AFTER INSERT OR DELETE OR UPDATE OF state, repository_id, number ON issues
    FOR EACH ROW EXECUTE FUNCTION issues_maintain_counts();

CREATE FUNCTION check_issue_counts(p_repository_id bigint DEFAULT NULL)
RETURNS TABLE (repository_id bigint, stored_open bigint, stored_closed bigint,
               actual_open bigint, actual_closed bigint)
LANGUAGE sql STABLE
AS $$
    WITH stored AS (
        SELECT c.repository_id, c.open_issue_count, c.closed_issue_count
          FROM issue_counters AS c
         WHERE p_repository_id IS NULL OR c.repository_id = p_repository_id
    ), actual AS (
        SELECT i.repository_id,
               count(*) FILTER (WHERE i.state = 'open') AS open_count,
               count(*) FILTER (WHERE i.state = 'closed') AS closed_count
          FROM issues AS i
         WHERE p_repository_id IS NULL OR i.repository_id = p_repository_id
         GROUP BY i.repository_id
    )
    SELECT coalesce(s.repository_id, a.repository_id),
           coalesce(s.open_issue_count, 0), coalesce(s.closed_issue_count, 0),
           coalesce(a.open_count, 0), coalesce(a.closed_count, 0)
      FROM stored AS s
      FULL JOIN actual AS a ON a.repository_id = s.repository_id
     WHERE (coalesce(s.open_issue_count, 0), coalesce(s.closed_issue_count, 0))
           IS DISTINCT FROM (coalesce(a.open_count, 0), coalesce(a.closed_count, 0))
     ORDER BY 1
$$;

COMMENT ON FUNCTION check_issue_counts(bigint) IS
    'Recounts issues per repository (one repository, or all when NULL) and returns the rows whose stored open/closed counts differ from the recount. Empty = consistent.';


CREATE TABLE comments (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    issue_id       bigint NOT NULL,
    author_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    body           text NOT NULL,
    edited_at      timestamptz,
    deleted_at     timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT comments_body_check CHECK (char_length(body) <= 65536),
    -- A live comment says something; a deleted one is a tombstone whose body is gone.
    CONSTRAINT comments_tombstone_check
        CHECK (CASE WHEN deleted_at IS NULL THEN btrim(body, E' \t\n\r\f') <> '' ELSE body = '' END),
    CONSTRAINT comments_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT comments_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX comments_issue_created_at_idx ON comments (repository_id, issue_id, created_at, id);
CREATE INDEX comments_author_id_idx ON comments (author_id, created_at, id);

CREATE TRIGGER comments_set_updated_at BEFORE UPDATE ON comments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE comments IS
    'Issue comments. Deleting is soft: deleted_at is set and the body cleared, leaving a tombstone so the thread keeps its shape.';
COMMENT ON COLUMN comments.deleted_at IS 'Set on (soft) delete; deleted comments are not counted in issues.comment_count.';
COMMENT ON COLUMN comments.edited_at IS 'Last edit of the body by a person.';

CREATE FUNCTION comments_maintain_count() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_old integer := 0;
    v_new integer := 0;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
        v_old := 1;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
        v_new := 1;
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.issue_id = NEW.issue_id THEN
        IF v_new <> v_old THEN
            UPDATE issues SET comment_count = comment_count + v_new - v_old WHERE id = NEW.issue_id;
        END IF;
        RETURN NULL;
    END IF;
    IF v_old = 1 THEN
        UPDATE issues SET comment_count = comment_count - 1 WHERE id = OLD.issue_id;
    END IF;
    IF v_new = 1 THEN
        UPDATE issues SET comment_count = comment_count + 1 WHERE id = NEW.issue_id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION comments_maintain_count() IS
    'AFTER row trigger on comments: keeps issues.comment_count equal to the number of live (not soft-deleted) comments.';

CREATE TRIGGER comments_count AFTER INSERT OR DELETE OR UPDATE OF deleted_at, issue_id ON comments
    FOR EACH ROW EXECUTE FUNCTION comments_maintain_count();


CREATE TABLE labels (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name           text NOT NULL,
    color          text NOT NULL DEFAULT '#ededed',
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT labels_name_check
        CHECK (char_length(name) BETWEEN 1 AND 50 AND btrim(name) <> '' AND name !~ '[[:cntrl:],]'),
    CONSTRAINT labels_color_check CHECK (color ~ '^#[0-9a-f]{6}$'),
    CONSTRAINT labels_description_check CHECK (char_length(description) <= 100),
    CONSTRAINT labels_repository_id_id_key UNIQUE (repository_id, id)
);

CREATE UNIQUE INDEX labels_repository_id_name_lower_key ON labels (repository_id, lower(name));

CREATE TRIGGER labels_set_updated_at BEFORE UPDATE ON labels
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE labels IS 'Per-repository labels; names unique case-insensitively; no commas, so a list of names is unambiguous.';
COMMENT ON COLUMN labels.color IS 'Canonical lowercase #rrggbb.';


CREATE TABLE issue_labels (
    repository_id  bigint NOT NULL,
    issue_id       bigint NOT NULL,
    label_id       bigint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, issue_id, label_id),
    -- Both keys carry repository_id: a label of another repository can never be attached.
    CONSTRAINT issue_labels_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT issue_labels_label_fkey FOREIGN KEY (repository_id, label_id)
        REFERENCES labels (repository_id, id) ON DELETE CASCADE
);

-- Label filter ("issues labelled X") and the label foreign key.
CREATE INDEX issue_labels_label_idx ON issue_labels (repository_id, label_id, issue_id);

CREATE TRIGGER issue_labels_refuse_update BEFORE UPDATE ON issue_labels
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE issue_labels IS
    'Labels attached to issues. Rows are attached and detached, never changed: append-only (no updated_at, UPDATE refused).';


CREATE TABLE issue_assignees (
    repository_id  bigint NOT NULL,
    issue_id       bigint NOT NULL,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, issue_id, user_id),
    CONSTRAINT issue_assignees_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE
);

-- "Assigned to X" within a repository, and the user foreign key.
CREATE INDEX issue_assignees_user_id_idx ON issue_assignees (user_id, repository_id, issue_id);

CREATE TRIGGER issue_assignees_refuse_update BEFORE UPDATE ON issue_assignees
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE issue_assignees IS
    'Users assigned to an issue: at most 10 per issue, each able to see the repository (issue_assignees_count trigger). Assigned and unassigned, never changed: append-only.';

-- The limit is kept race-free by counting in the issue row: the increment takes the issue's row
-- lock, so concurrent assignments to one issue queue behind each other and each sees the count
-- the previous one committed (READ COMMITTED re-evaluates the WHERE on the newest row version;
-- under REPEATABLE READ the second writer gets a serialization failure instead). It runs AFTER
-- INSERT so that ON CONFLICT DO NOTHING skips it for rows that were not inserted.
CREATE FUNCTION issue_assignees_maintain_count() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT can_read_repository(NEW.repository_id, NEW.user_id) THEN
            RAISE EXCEPTION 'user id % cannot be assigned: they cannot see repository id %', NEW.user_id, NEW.repository_id
                USING ERRCODE = 'FDI01', TABLE = 'issue_assignees', COLUMN = 'user_id',
                      CONSTRAINT = 'issue_assignees_can_read';
        END IF;
        UPDATE issues SET assignee_count = assignee_count + 1
         WHERE id = NEW.issue_id AND assignee_count < 10;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'issue id % already has 10 assignees', NEW.issue_id
                USING ERRCODE = 'FDC01', TABLE = 'issue_assignees', CONSTRAINT = 'issue_assignees_limit';
        END IF;
    ELSE
        UPDATE issues SET assignee_count = assignee_count - 1 WHERE id = OLD.issue_id;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION issue_assignees_maintain_count() IS
    'AFTER INSERT/DELETE row trigger on issue_assignees: refuses an assignee who cannot see the repository (FDI01, issue_assignees_can_read), keeps issues.assignee_count and refuses an 11th assignee (FDC01, issue_assignees_limit).';

CREATE TRIGGER issue_assignees_count AFTER INSERT OR DELETE ON issue_assignees
    FOR EACH ROW EXECUTE FUNCTION issue_assignees_maintain_count();


-- Cycle prevention for the two issue graphs below.
--
-- A reachability check alone is not enough under concurrency: two transactions adding A->B and
-- B->A each see a graph without the other's edge and would both commit a cycle. So each insert
-- first takes a transaction-scoped advisory lock on the repository's graph (links never cross
-- repositories: the composite foreign keys pin both ends to one repository, so a per-repository
-- key covers the whole graph). The second inserter waits until the first commits or rolls back.
-- The reachability query is a new statement in this plpgsql function, so under READ COMMITTED it
-- takes a fresh snapshot after the wait and sees the edge just committed. Under REPEATABLE READ
-- the snapshot predates the wait and the check could miss that edge, so that level is refused;
-- under SERIALIZABLE, SSI aborts one of two conflicting inserters anyway.
-- The key is hashtextextended(<graph name>, repository_id): one 64-bit key per graph and
-- repository; a hash collision only makes two unrelated inserts wait for each other.

CREATE TABLE issue_dependencies (
    repository_id      bigint NOT NULL,
    blocking_issue_id  bigint NOT NULL,
    blocked_issue_id   bigint NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, blocking_issue_id, blocked_issue_id),
    CONSTRAINT issue_dependencies_no_self_check CHECK (blocking_issue_id <> blocked_issue_id),
    CONSTRAINT issue_dependencies_blocking_fkey FOREIGN KEY (repository_id, blocking_issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT issue_dependencies_blocked_fkey FOREIGN KEY (repository_id, blocked_issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE
);

-- "Blocked by" lists and the blocked-issue foreign key.
CREATE INDEX issue_dependencies_blocked_idx ON issue_dependencies (repository_id, blocked_issue_id, blocking_issue_id);

COMMENT ON TABLE issue_dependencies IS
    'blocking issue -> blocked issue, within one repository. Acyclic: the issue_dependencies_acyclic trigger refuses any edge closing a cycle (FDC01), race-free because edge inserts are serialised per repository by an advisory lock taken before the check. Append-only: edges are added and removed, never changed.';
COMMENT ON COLUMN issue_dependencies.blocking_issue_id IS 'The issue that must be done first.';
COMMENT ON COLUMN issue_dependencies.blocked_issue_id IS 'The issue waiting for it.';

CREATE FUNCTION issue_dependencies_refuse_cycle() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'issue dependencies cannot be added under REPEATABLE READ (the cycle check needs a fresh snapshot)'
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME;
    END IF;
    IF NEW.blocking_issue_id = NEW.blocked_issue_id THEN
        RETURN NEW;  -- issue_dependencies_no_self_check reports it
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('issue_dependencies', NEW.repository_id));
    IF EXISTS (
        WITH RECURSIVE reachable (issue_id) AS (
            SELECT NEW.blocked_issue_id
            UNION
            SELECT d.blocked_issue_id
              FROM issue_dependencies AS d
              JOIN reachable AS r ON d.repository_id = NEW.repository_id AND d.blocking_issue_id = r.issue_id
        )
        SELECT FROM reachable WHERE issue_id = NEW.blocking_issue_id
    ) THEN
        RAISE EXCEPTION 'issue id % cannot block issue id %: the latter already blocks the former, directly or through other issues (cycle)',
                NEW.blocking_issue_id, NEW.blocked_issue_id
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, CONSTRAINT = 'issue_dependencies_acyclic';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION issue_dependencies_refuse_cycle() IS
    'BEFORE INSERT row trigger: serialises edge inserts per repository with an advisory lock, then refuses an edge that closes a cycle (FDC01, constraint name issue_dependencies_acyclic).';

CREATE TRIGGER issue_dependencies_acyclic BEFORE INSERT ON issue_dependencies
    FOR EACH ROW EXECUTE FUNCTION issue_dependencies_refuse_cycle();
CREATE TRIGGER issue_dependencies_refuse_update BEFORE UPDATE ON issue_dependencies
    FOR EACH ROW EXECUTE FUNCTION refuse_update();


CREATE TABLE subtasks (
    repository_id    bigint NOT NULL,
    parent_issue_id  bigint NOT NULL,
    child_issue_id   bigint NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, parent_issue_id, child_issue_id),
    CONSTRAINT subtasks_no_self_check CHECK (parent_issue_id <> child_issue_id),
    -- A child has at most one parent, so the subtasks form a forest.
    CONSTRAINT subtasks_one_parent_key UNIQUE (repository_id, child_issue_id),
    CONSTRAINT subtasks_parent_fkey FOREIGN KEY (repository_id, parent_issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT subtasks_child_fkey FOREIGN KEY (repository_id, child_issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE
);

COMMENT ON TABLE subtasks IS
    'parent issue -> child issue (sub-issues) within one repository. A child has one parent at most (subtasks_one_parent_key) and the hierarchy is acyclic (subtasks_acyclic trigger, race-free). Append-only.';

CREATE FUNCTION subtasks_refuse_cycle() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'subtasks cannot be added under REPEATABLE READ (the cycle check needs a fresh snapshot)'
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME;
    END IF;
    IF NEW.parent_issue_id = NEW.child_issue_id THEN
        RETURN NEW;  -- subtasks_no_self_check reports it
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('subtasks', NEW.repository_id));
    -- Each issue has one parent at most, so the ancestors of the new parent are a chain.
    IF EXISTS (
        WITH RECURSIVE ancestors (issue_id) AS (
            SELECT NEW.parent_issue_id
            UNION
            SELECT s.parent_issue_id
              FROM subtasks AS s
              JOIN ancestors AS a ON s.repository_id = NEW.repository_id AND s.child_issue_id = a.issue_id
        )
        SELECT FROM ancestors WHERE issue_id = NEW.child_issue_id
    ) THEN
        RAISE EXCEPTION 'issue id % cannot be a subtask of issue id %: it is already its ancestor (cycle)',
                NEW.child_issue_id, NEW.parent_issue_id
            USING ERRCODE = 'FDC01', TABLE = TG_TABLE_NAME, CONSTRAINT = 'subtasks_acyclic';
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION subtasks_refuse_cycle() IS
    'BEFORE INSERT row trigger: serialises subtask inserts per repository with an advisory lock, then refuses a link that makes an issue its own ancestor (FDC01, constraint name subtasks_acyclic).';

CREATE TRIGGER subtasks_acyclic BEFORE INSERT ON subtasks
    FOR EACH ROW EXECUTE FUNCTION subtasks_refuse_cycle();
CREATE TRIGGER subtasks_refuse_update BEFORE UPDATE ON subtasks
    FOR EACH ROW EXECUTE FUNCTION refuse_update();


CREATE TABLE pinned_issues (
    repository_id  bigint NOT NULL,
    issue_id       bigint NOT NULL,
    position       smallint NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, issue_id),
    -- Three slots: the position range and its uniqueness together cap the pins at three.
    CONSTRAINT pinned_issues_position_check CHECK (position BETWEEN 1 AND 3),
    -- Deferrable so one UPDATE can swap or rotate positions (checked at statement end).
    CONSTRAINT pinned_issues_repository_id_position_key UNIQUE (repository_id, position)
        DEFERRABLE INITIALLY IMMEDIATE,
    CONSTRAINT pinned_issues_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE
);

CREATE TRIGGER pinned_issues_set_updated_at BEFORE UPDATE ON pinned_issues
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE pinned_issues IS
    'Issues pinned to the top of a repository''s issue list: at most 3, in position order 1..3, re-orderable in one UPDATE.';
COMMENT ON COLUMN pinned_issues.position IS 'Display slot 1..3; unique per repository, deferrable so slots can be swapped in one UPDATE.';


-- =============================================================================================
-- 5. Collaboration: mentions, reactions, stars, watches, messages, notifications
-- =============================================================================================

CREATE TABLE mentions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id      bigint NOT NULL,
    issue_id           bigint NOT NULL,
    comment_id         bigint,
    mentioned_user_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Once per user per issue body and once per user per comment.
    CONSTRAINT mentions_target_user_key
        UNIQUE NULLS NOT DISTINCT (repository_id, issue_id, comment_id, mentioned_user_id),
    CONSTRAINT mentions_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT mentions_comment_fkey FOREIGN KEY (repository_id, comment_id)
        REFERENCES comments (repository_id, id) ON DELETE CASCADE
);

-- "Issues mentioning X" within a repository, and the user foreign key.
CREATE INDEX mentions_mentioned_user_id_idx ON mentions (mentioned_user_id, repository_id, issue_id);
CREATE INDEX mentions_comment_idx ON mentions (repository_id, comment_id) WHERE comment_id IS NOT NULL;

CREATE TRIGGER mentions_refuse_update BEFORE UPDATE ON mentions
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE mentions IS
    '@username mentions extracted from an issue body (comment_id NULL) or a comment of that issue. Re-extracted on edit by delete + insert: append-only.';
COMMENT ON COLUMN mentions.issue_id IS 'Always the issue, also for a mention in one of its comments, so "mentioned" filters need no join.';
COMMENT ON COLUMN mentions.comment_id IS 'The comment holding the mention; NULL = the issue body.';


CREATE TABLE reactions (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    issue_id       bigint,
    comment_id     bigint,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    emoji          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reactions_emoji_check
        CHECK (emoji IN ('+1', '-1', 'laugh', 'hooray', 'confused', 'heart', 'rocket', 'eyes')),
    CONSTRAINT reactions_one_target_check CHECK (num_nonnulls(issue_id, comment_id) = 1),
    CONSTRAINT reactions_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT reactions_comment_fkey FOREIGN KEY (repository_id, comment_id)
        REFERENCES comments (repository_id, id) ON DELETE CASCADE
);

-- One per user, target and emoji; also the grouped counts per target (index-only) and the
-- target foreign keys.
CREATE UNIQUE INDEX reactions_issue_user_emoji_key
    ON reactions (repository_id, issue_id, emoji, user_id) WHERE issue_id IS NOT NULL;
CREATE UNIQUE INDEX reactions_comment_user_emoji_key
    ON reactions (repository_id, comment_id, emoji, user_id) WHERE comment_id IS NOT NULL;
CREATE INDEX reactions_user_id_idx ON reactions (user_id);

CREATE TRIGGER reactions_refuse_update BEFORE UPDATE ON reactions
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE reactions IS
    'Emoji reactions on an issue or a comment (exactly one target), from a fixed vocabulary, one per user, target and emoji. Toggled by insert/delete: append-only.';


CREATE TABLE stars (
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, repository_id)
);

CREATE INDEX stars_user_id_created_at_idx ON stars (user_id, created_at, repository_id);
-- Stargazers list and star count (an index-only count, rather than a counter column whose row
-- lock every star of a popular repository would queue on).
CREATE INDEX stars_repository_id_idx ON stars (repository_id, created_at, user_id);

CREATE TRIGGER stars_refuse_update BEFORE UPDATE ON stars
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE stars IS 'A user starring a repository. Toggled by insert/delete: append-only.';


CREATE TABLE watches (
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    level          text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, repository_id),
    CONSTRAINT watches_level_check CHECK (level IN ('watching', 'participating', 'ignoring'))
);

-- Notification fan-out: the watchers of a repository at a level.
CREATE INDEX watches_repository_id_idx ON watches (repository_id, level, user_id);

CREATE TRIGGER watches_set_updated_at BEFORE UPDATE ON watches
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE watches IS
    'Notification subscription level per user and repository: watching (everything), participating (only threads they take part in; the default without a row), ignoring (nothing).';


CREATE TABLE messages (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sender_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    recipient_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body          text NOT NULL,
    read_at       timestamptz,
    user_low_id   bigint NOT NULL GENERATED ALWAYS AS (least(sender_id, recipient_id)) STORED,
    user_high_id  bigint NOT NULL GENERATED ALWAYS AS (greatest(sender_id, recipient_id)) STORED,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT messages_body_check
        CHECK (char_length(body) BETWEEN 1 AND 65536 AND btrim(body, E' \t\n\r\f') <> ''),
    CONSTRAINT messages_not_self_check CHECK (sender_id <> recipient_id)
);

-- A conversation is the unordered pair of users; both directions share one keyset order.
CREATE INDEX messages_conversation_idx ON messages (user_low_id, user_high_id, created_at, id);
CREATE INDEX messages_sender_id_idx ON messages (sender_id, created_at, id);
CREATE INDEX messages_recipient_id_idx ON messages (recipient_id, created_at, id);
CREATE INDEX messages_recipient_unread_idx ON messages (recipient_id, created_at, id) WHERE read_at IS NULL;

CREATE TRIGGER messages_set_updated_at BEFORE UPDATE ON messages
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE messages IS
    'Direct messages between two users. Deleting either account deletes the conversation (CASCADE): private correspondence is personal data of both, and a message without its sender would leave a conversation nobody can address.';
COMMENT ON COLUMN messages.user_low_id IS 'least(sender_id, recipient_id): with user_high_id, the conversation key.';
COMMENT ON COLUMN messages.user_high_id IS 'greatest(sender_id, recipient_id).';


CREATE TABLE notifications (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    issue_id       bigint,
    comment_id     bigint,
    actor_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    reason         text NOT NULL,
    read_at        timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT notifications_reason_check
        CHECK (reason IN ('mention', 'assign', 'comment', 'subscribed', 'author', 'state_change',
                          'review_requested', 'landing', 'security')),
    CONSTRAINT notifications_issue_fkey FOREIGN KEY (repository_id, issue_id)
        REFERENCES issues (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT notifications_comment_fkey FOREIGN KEY (repository_id, comment_id)
        REFERENCES comments (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX notifications_user_id_created_at_idx ON notifications (user_id, created_at, id);
CREATE INDEX notifications_user_id_unread_idx ON notifications (user_id, created_at, id) WHERE read_at IS NULL;
CREATE INDEX notifications_issue_idx ON notifications (repository_id, issue_id);
CREATE INDEX notifications_comment_idx ON notifications (repository_id, comment_id) WHERE comment_id IS NOT NULL;
CREATE INDEX notifications_actor_id_idx ON notifications (actor_id) WHERE actor_id IS NOT NULL;

CREATE TRIGGER notifications_set_updated_at BEFORE UPDATE ON notifications
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE notifications IS
    'A user''s notifications, with the reason they got it. Listed by keyset (user_id, created_at, id); unread ones through a partial index. Readers filter with can_read_repository(), so access lost later hides them.';
COMMENT ON COLUMN notifications.actor_id IS 'Who caused it; NULL once that account is deleted.';
COMMENT ON COLUMN notifications.reason IS 'Why the user got it: mention, assign, comment, subscribed, author, state_change, review_requested, landing, security.';

-- Who is told about an event, and why. The candidates come in priority order (the most specific
-- reason first: a mention before an assignment before a watch); each user keeps their first
-- reason. The actor, inactive users, users ignoring the repository and users who cannot read
-- it are dropped, so a private repository's activity never reaches a stranger.
CREATE FUNCTION notification_recipients(p_repository_id bigint, p_actor_id bigint,
                                        p_user_ids bigint[], p_reasons text[])
RETURNS TABLE (user_id bigint, reason text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
#variable_conflict use_column
BEGIN
    -- PL/pgSQL keeps this query's plan for the session; an SQL function's would be made anew
    -- on every call of a statement that cannot inline it.
    RETURN QUERY
        SELECT DISTINCT ON (c.user_id) c.user_id, c.reason
          FROM unnest(p_user_ids, p_reasons) WITH ORDINALITY AS c (user_id, reason, rank)
          JOIN users AS u ON u.id = c.user_id AND u.active
         WHERE c.user_id IS DISTINCT FROM p_actor_id
           AND NOT EXISTS (SELECT 1 FROM watches AS w
                            WHERE w.user_id = c.user_id AND w.repository_id = p_repository_id
                              AND w.level = 'ignoring')
           AND can_read_repository(p_repository_id, c.user_id)
         ORDER BY c.user_id, c.rank;
END
$$;

COMMENT ON FUNCTION notification_recipients(bigint, bigint, bigint[], text[]) IS
    'Fan-out of one event: from candidates (user ids and reasons, most specific first) the users to notify, once each with their first reason; never the actor, an inactive user, a user ignoring the repository or one who cannot read it.';

CREATE FUNCTION require_open_conversation(p_repository_id bigint, p_actor_id bigint,
                                          p_locked boolean)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    IF NOT p_locked OR has_repository_role(p_repository_id, p_actor_id, 'write') THEN
        RETURN true;
    END IF;
    RAISE EXCEPTION 'the conversation is locked: only writers may take part'
        USING ERRCODE = 'FDP01', TABLE = 'issues', COLUMN = 'locked';
END
$$;

COMMENT ON FUNCTION require_open_conversation(bigint, bigint, boolean) IS
    'True unless the conversation is locked and the actor lacks the write role; then raises FDP01. Guards comments and reactions.';



-- =============================================================================================
-- 6. Landing & review: the landing queue (jj-native change requests), its reviews and line
--    comments; git-style pull requests, their reviews and review comments; conflicts
-- =============================================================================================

CREATE TABLE landing_queue (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id     bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    number            bigint NOT NULL,
    author_id         bigint REFERENCES users (id) ON DELETE SET NULL,
    change_id         text COLLATE "C" NOT NULL,
    commit_id         text COLLATE "C",
    target_bookmark   text NOT NULL,
    title             text NOT NULL,
    description       text NOT NULL DEFAULT '',
    priority          smallint NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'queued',
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 3,
    claimed_by        text,
    claimed_at        timestamptz,
    lease_expires_at  timestamptz,
    landed_commit_id  text COLLATE "C",
    last_error        text,
    finished_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_queue_number_check CHECK (number > 0),
    CONSTRAINT landing_queue_change_id_check CHECK (change_id ~ '^[k-z]{32}$'),
    CONSTRAINT landing_queue_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT landing_queue_landed_commit_id_check CHECK (landed_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT landing_queue_target_bookmark_check CHECK (is_valid_ref_name(target_bookmark)),
    CONSTRAINT landing_queue_title_check
        CHECK (char_length(title) BETWEEN 1 AND 256 AND btrim(title, E' \t\n\r\f') <> ''),
    CONSTRAINT landing_queue_description_check CHECK (char_length(description) <= 65536),
    CONSTRAINT landing_queue_priority_check CHECK (priority BETWEEN -100 AND 100),
    CONSTRAINT landing_queue_state_check
        CHECK (state IN ('queued', 'running', 'landed', 'failed', 'cancelled')),
    CONSTRAINT landing_queue_attempts_check CHECK (attempts >= 0 AND attempts <= max_attempts),
    CONSTRAINT landing_queue_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT landing_queue_claimed_by_check CHECK (char_length(claimed_by) BETWEEN 1 AND 255),
    CONSTRAINT landing_queue_last_error_check CHECK (char_length(last_error) <= 65536),
    -- A running request is held by a worker until its lease expires (then another worker may
    -- take it over); only running requests hold a claim.
    CONSTRAINT landing_queue_claim_check
        CHECK ((state = 'running') = (claimed_by IS NOT NULL AND claimed_at IS NOT NULL
                                      AND lease_expires_at IS NOT NULL)),
    CONSTRAINT landing_queue_landed_check CHECK ((state = 'landed') = (landed_commit_id IS NOT NULL)),
    CONSTRAINT landing_queue_finished_check
        CHECK ((state IN ('landed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CONSTRAINT landing_queue_repository_id_number_key UNIQUE (repository_id, number),
    CONSTRAINT landing_queue_repository_id_id_key UNIQUE (repository_id, id)
);

-- Claim order of the workers: SELECT ... WHERE state = 'queued' ORDER BY priority DESC, id
-- FOR UPDATE SKIP LOCKED, per target bookmark (landing is serial per bookmark) or globally.
CREATE INDEX landing_queue_claim_idx
    ON landing_queue (repository_id, target_bookmark, priority DESC, id) WHERE state = 'queued';
CREATE INDEX landing_queue_claim_global_idx ON landing_queue (priority DESC, id) WHERE state = 'queued';
-- Expired leases to take over.
CREATE INDEX landing_queue_lease_idx ON landing_queue (lease_expires_at) WHERE state = 'running';
CREATE INDEX landing_queue_repository_id_state_created_at_idx
    ON landing_queue (repository_id, state, created_at, id);
CREATE INDEX landing_queue_author_id_idx ON landing_queue (author_id, created_at, id);
-- A change waits in the queue for a bookmark once.
CREATE UNIQUE INDEX landing_queue_active_change_key
    ON landing_queue (repository_id, change_id, target_bookmark) WHERE state IN ('queued', 'running');

CREATE TRIGGER landing_queue_set_updated_at BEFORE UPDATE ON landing_queue
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER landing_queue_state_transition BEFORE UPDATE OF state ON landing_queue
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'queued>running', 'queued>cancelled',
        'running>landed', 'running>failed', 'running>queued', 'running>cancelled',
        'failed>queued');

COMMENT ON TABLE landing_queue IS
    'Landing requests: a jj change asking to land on a target bookmark. Numbered from the repository''s shared sequence (get_next_issue_number). State machine queued -> running -> landed | failed | cancelled, with running -> queued (lease lost, retry) and failed -> queued (requeue), enforced by trigger.';
COMMENT ON COLUMN landing_queue.change_id IS 'jj change id (32 chars of k-z); stable across rewrites of the change.';
COMMENT ON COLUMN landing_queue.commit_id IS 'The commit of the change when it was queued (the change may be rewritten later).';
COMMENT ON COLUMN landing_queue.priority IS 'Higher lands first; ties in queue order.';
COMMENT ON COLUMN landing_queue.claimed_by IS 'Worker holding the request while running.';
COMMENT ON COLUMN landing_queue.lease_expires_at IS 'The claim is void after this; another worker may take the request over.';
COMMENT ON COLUMN landing_queue.number IS 'From get_next_issue_number(): issues, landing requests and pull requests share one sequence per repository.';
COMMENT ON COLUMN landing_queue.target_bookmark IS 'The bookmark the change lands on.';
COMMENT ON COLUMN landing_queue.attempts IS 'Landing attempts started; at most max_attempts.';
COMMENT ON COLUMN landing_queue.landed_commit_id IS 'The commit the bookmark points at after landing; set exactly when landed.';

CREATE FUNCTION raise_issue_counter() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO issue_counters AS c (repository_id, last_number)
    VALUES (NEW.repository_id, NEW.number)
    ON CONFLICT (repository_id) DO UPDATE SET last_number = EXCLUDED.last_number
     WHERE c.last_number < EXCLUDED.last_number;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION raise_issue_counter() IS
    'AFTER INSERT row trigger of the numbered tables other than issues (landing_queue, pull_requests): keeps issue_counters.last_number at least the highest number inserted, so imports cannot make the sequence hand out a used number.';

CREATE TRIGGER landing_queue_counter AFTER INSERT ON landing_queue
    FOR EACH ROW EXECUTE FUNCTION raise_issue_counter();


CREATE TABLE landing_reviews (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    landing_id     bigint NOT NULL,
    reviewer_id    bigint REFERENCES users (id) ON DELETE SET NULL,
    state          text NOT NULL,
    body           text NOT NULL DEFAULT '',
    commit_id      text COLLATE "C",
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_reviews_state_check
        CHECK (state IN ('commented', 'approved', 'changes_requested', 'dismissed')),
    CONSTRAINT landing_reviews_body_check CHECK (char_length(body) <= 65536),
    CONSTRAINT landing_reviews_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT landing_reviews_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT landing_reviews_landing_fkey FOREIGN KEY (repository_id, landing_id)
        REFERENCES landing_queue (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX landing_reviews_landing_idx ON landing_reviews (repository_id, landing_id, created_at, id);
CREATE INDEX landing_reviews_reviewer_id_idx ON landing_reviews (reviewer_id, created_at, id);

CREATE TRIGGER landing_reviews_set_updated_at BEFORE UPDATE ON landing_reviews
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE landing_reviews IS
    'Reviews of a landing request. The latest non-dismissed review of each reviewer counts towards protected_branches.required_approvals.';
COMMENT ON COLUMN landing_reviews.commit_id IS 'The commit of the change that was reviewed; a rewrite after approval can be detected.';


CREATE TABLE landing_line_comments (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   bigint NOT NULL,
    landing_id      bigint NOT NULL,
    review_id       bigint,
    in_reply_to_id  bigint,
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    commit_id       text COLLATE "C" NOT NULL,
    path            text NOT NULL,
    line            integer NOT NULL,
    side            text NOT NULL DEFAULT 'new',
    body            text NOT NULL,
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT landing_line_comments_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT landing_line_comments_path_check
        CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT landing_line_comments_line_check CHECK (line >= 1),
    CONSTRAINT landing_line_comments_side_check CHECK (side IN ('old', 'new')),
    CONSTRAINT landing_line_comments_body_check
        CHECK (char_length(body) BETWEEN 1 AND 65536 AND btrim(body, E' \t\n\r\f') <> ''),
    CONSTRAINT landing_line_comments_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT landing_line_comments_landing_fkey FOREIGN KEY (repository_id, landing_id)
        REFERENCES landing_queue (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT landing_line_comments_review_fkey FOREIGN KEY (repository_id, review_id)
        REFERENCES landing_reviews (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT landing_line_comments_in_reply_to_fkey FOREIGN KEY (repository_id, in_reply_to_id)
        REFERENCES landing_line_comments (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX landing_line_comments_landing_idx
    ON landing_line_comments (repository_id, landing_id, path, line, id);
CREATE INDEX landing_line_comments_review_idx
    ON landing_line_comments (repository_id, review_id) WHERE review_id IS NOT NULL;
CREATE INDEX landing_line_comments_in_reply_to_idx
    ON landing_line_comments (repository_id, in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX landing_line_comments_author_id_idx ON landing_line_comments (author_id);

CREATE TRIGGER landing_line_comments_set_updated_at BEFORE UPDATE ON landing_line_comments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE landing_line_comments IS
    'Comments on a line of a landing request''s diff, optionally part of a review, threaded by in_reply_to_id.';
COMMENT ON COLUMN landing_line_comments.side IS 'old = the line number is in the base, new = in the change.';


CREATE TABLE pull_requests (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id    bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    number           bigint NOT NULL,
    author_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    title            text NOT NULL,
    body             text NOT NULL DEFAULT '',
    state            text NOT NULL DEFAULT 'open',
    draft            boolean NOT NULL DEFAULT false,
    head_ref         text NOT NULL,
    base_ref         text NOT NULL,
    head_commit_id   text COLLATE "C" NOT NULL,
    merge_commit_id  text COLLATE "C",
    merged_by_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    merged_at        timestamptz,
    closed_at        timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT pull_requests_number_check CHECK (number > 0),
    CONSTRAINT pull_requests_title_check
        CHECK (char_length(title) BETWEEN 1 AND 256 AND btrim(title, E' \t\n\r\f') <> ''),
    CONSTRAINT pull_requests_body_check CHECK (char_length(body) <= 65536),
    CONSTRAINT pull_requests_state_check CHECK (state IN ('open', 'closed', 'merged')),
    CONSTRAINT pull_requests_head_ref_check CHECK (is_valid_ref_name(head_ref)),
    CONSTRAINT pull_requests_base_ref_check CHECK (is_valid_ref_name(base_ref)),
    CONSTRAINT pull_requests_head_commit_id_check CHECK (head_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT pull_requests_merge_commit_id_check CHECK (merge_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT pull_requests_merged_check
        CHECK ((state = 'merged') = (merged_at IS NOT NULL AND merge_commit_id IS NOT NULL)),
    CONSTRAINT pull_requests_closed_check CHECK ((state = 'open') = (closed_at IS NULL)),
    CONSTRAINT pull_requests_repository_id_number_key UNIQUE (repository_id, number),
    CONSTRAINT pull_requests_repository_id_id_key UNIQUE (repository_id, id)
);

CREATE INDEX pull_requests_repository_id_state_created_at_idx
    ON pull_requests (repository_id, state, created_at, id);
CREATE INDEX pull_requests_repository_id_updated_at_idx ON pull_requests (repository_id, updated_at, id);
CREATE INDEX pull_requests_author_id_idx ON pull_requests (author_id, created_at, id);
CREATE INDEX pull_requests_merged_by_id_idx ON pull_requests (merged_by_id) WHERE merged_by_id IS NOT NULL;

CREATE TRIGGER pull_requests_set_updated_at BEFORE UPDATE ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER pull_requests_state_transition BEFORE UPDATE OF state ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition('open>closed', 'closed>open', 'open>merged');
CREATE TRIGGER pull_requests_counter AFTER INSERT ON pull_requests
    FOR EACH ROW EXECUTE FUNCTION raise_issue_counter();

COMMENT ON TABLE pull_requests IS
    'Git-style pull requests (head ref into base ref), for git clients of a repository; jj-native work goes through landing_queue. Numbered from the same per-repository sequence as issues and landing requests, so #N is unambiguous. merged is final.';
COMMENT ON COLUMN pull_requests.closed_at IS 'Set when closed or merged.';
COMMENT ON COLUMN pull_requests.number IS 'From get_next_issue_number(), shared with issues and landing requests.';
COMMENT ON COLUMN pull_requests.head_ref IS 'Branch with the proposed commits.';
COMMENT ON COLUMN pull_requests.base_ref IS 'Branch to merge into.';


CREATE TABLE reviews (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id    bigint NOT NULL,
    pull_request_id  bigint NOT NULL,
    reviewer_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    state            text NOT NULL,
    body             text NOT NULL DEFAULT '',
    commit_id        text COLLATE "C" NOT NULL,
    submitted_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reviews_state_check
        CHECK (state IN ('pending', 'commented', 'approved', 'changes_requested', 'dismissed')),
    CONSTRAINT reviews_submitted_check CHECK ((state = 'pending') = (submitted_at IS NULL)),
    CONSTRAINT reviews_body_check CHECK (char_length(body) <= 65536),
    CONSTRAINT reviews_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT reviews_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT reviews_pull_request_fkey FOREIGN KEY (repository_id, pull_request_id)
        REFERENCES pull_requests (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX reviews_pull_request_idx ON reviews (repository_id, pull_request_id, created_at, id);
CREATE INDEX reviews_reviewer_id_idx ON reviews (reviewer_id, created_at, id);

CREATE TRIGGER reviews_set_updated_at BEFORE UPDATE ON reviews
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE reviews IS
    'Reviews of a pull request at a commit. pending = draft, visible to its author only, until submitted.';
COMMENT ON COLUMN reviews.commit_id IS 'The head commit that was reviewed.';
COMMENT ON COLUMN reviews.submitted_at IS 'NULL while the review is a pending draft.';


CREATE TABLE review_comments (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id    bigint NOT NULL,
    pull_request_id  bigint NOT NULL,
    review_id        bigint,
    in_reply_to_id   bigint,
    author_id        bigint REFERENCES users (id) ON DELETE SET NULL,
    commit_id        text COLLATE "C" NOT NULL,
    path             text NOT NULL,
    line             integer NOT NULL,
    side             text NOT NULL DEFAULT 'new',
    body             text NOT NULL,
    resolved_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT review_comments_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT review_comments_path_check
        CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT review_comments_line_check CHECK (line >= 1),
    CONSTRAINT review_comments_side_check CHECK (side IN ('old', 'new')),
    CONSTRAINT review_comments_body_check
        CHECK (char_length(body) BETWEEN 1 AND 65536 AND btrim(body, E' \t\n\r\f') <> ''),
    CONSTRAINT review_comments_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT review_comments_pull_request_fkey FOREIGN KEY (repository_id, pull_request_id)
        REFERENCES pull_requests (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT review_comments_review_fkey FOREIGN KEY (repository_id, review_id)
        REFERENCES reviews (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT review_comments_in_reply_to_fkey FOREIGN KEY (repository_id, in_reply_to_id)
        REFERENCES review_comments (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX review_comments_pull_request_idx ON review_comments (repository_id, pull_request_id, path, line, id);
CREATE INDEX review_comments_review_idx ON review_comments (repository_id, review_id) WHERE review_id IS NOT NULL;
CREATE INDEX review_comments_in_reply_to_idx
    ON review_comments (repository_id, in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX review_comments_author_id_idx ON review_comments (author_id);

CREATE TRIGGER review_comments_set_updated_at BEFORE UPDATE ON review_comments
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE review_comments IS
    'Comments on a line of a pull request''s diff, optionally part of a review, threaded by in_reply_to_id.';


CREATE TABLE conflicts (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id       bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    landing_id          bigint,
    change_id           text COLLATE "C" NOT NULL,
    commit_id           text COLLATE "C" NOT NULL,
    path                text NOT NULL,
    sides               smallint NOT NULL DEFAULT 2,
    resolved_at         timestamptz,
    resolved_commit_id  text COLLATE "C",
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT conflicts_change_id_check CHECK (change_id ~ '^[k-z]{32}$'),
    CONSTRAINT conflicts_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT conflicts_resolved_commit_id_check CHECK (resolved_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT conflicts_path_check CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT conflicts_sides_check CHECK (sides BETWEEN 2 AND 64),
    CONSTRAINT conflicts_resolved_check CHECK (resolved_commit_id IS NULL OR resolved_at IS NOT NULL),
    CONSTRAINT conflicts_repository_id_commit_id_path_key UNIQUE (repository_id, commit_id, path),
    CONSTRAINT conflicts_landing_fkey FOREIGN KEY (repository_id, landing_id)
        REFERENCES landing_queue (repository_id, id) ON DELETE SET NULL (landing_id)
);

CREATE INDEX conflicts_landing_idx ON conflicts (repository_id, landing_id) WHERE landing_id IS NOT NULL;
CREATE INDEX conflicts_unresolved_idx ON conflicts (repository_id, change_id) WHERE resolved_at IS NULL;

CREATE TRIGGER conflicts_set_updated_at BEFORE UPDATE ON conflicts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE conflicts IS
    'jj conflicts recorded per commit and path (jj commits may contain conflicts; landing refuses them), optionally found while landing a request; resolved by a later commit of the same change.';
COMMENT ON COLUMN conflicts.sides IS 'Number of sides of the conflict (2 for an ordinary merge conflict).';


-- =============================================================================================
-- 7. jj & changes: content-addressed blobs, changes (commits), their parts, the operation log,
--    workspaces, their tracked files and snapshot history
-- =============================================================================================

CREATE TABLE blobs (
    hash        bytea PRIMARY KEY,
    content     bytea NOT NULL,
    size        bigint NOT NULL GENERATED ALWAYS AS (octet_length(content)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Content addressing, enforced: the key is the SHA-256 of the content, so a blob is stored
    -- once (INSERT ... ON CONFLICT (hash) DO NOTHING) and can never be corrupted or swapped.
    CONSTRAINT blobs_hash_check CHECK (hash = sha256(content)),
    CONSTRAINT blobs_size_check CHECK (octet_length(content) <= 104857600)
);

CREATE TRIGGER blobs_refuse_update BEFORE UPDATE ON blobs
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE blobs IS
    'File contents, content-addressed by SHA-256 and stored once across all repositories (access is always through a repository-scoped row that names the hash). Immutable and append-only; referenced with ON DELETE RESTRICT, so garbage collection can only remove unreferenced blobs.';
COMMENT ON COLUMN blobs.hash IS 'sha256(content), 32 bytes (blobs_hash_check).';
COMMENT ON COLUMN blobs.size IS 'Derived: octet_length(content).';


CREATE TABLE changes (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id   bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    change_id       text COLLATE "C" NOT NULL,
    commit_id       text COLLATE "C" NOT NULL,
    parent_commit_ids text[] COLLATE "C" NOT NULL DEFAULT '{}',
    author_id       bigint REFERENCES users (id) ON DELETE SET NULL,
    author_name     text NOT NULL DEFAULT '',
    author_email    text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    authored_at     timestamptz NOT NULL,
    committed_at    timestamptz NOT NULL,
    empty           boolean NOT NULL DEFAULT false,
    hidden          boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- jj change ids: 16 bytes in jj's reverse-hex alphabet (z = 0 ... k = 15).
    CONSTRAINT changes_change_id_check CHECK (change_id ~ '^[k-z]{32}$'),
    CONSTRAINT changes_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT changes_parent_commit_ids_check
        CHECK (cardinality(parent_commit_ids) <= 64
               AND array_position(parent_commit_ids, NULL) IS NULL
               AND array_to_string(parent_commit_ids, ',') ~ '^([0-9a-f]{40}(,[0-9a-f]{40})*)?$'),
    CONSTRAINT changes_author_name_check CHECK (char_length(author_name) <= 255),
    CONSTRAINT changes_author_email_check CHECK (char_length(author_email) <= 255),
    CONSTRAINT changes_description_check CHECK (char_length(description) <= 1048576),
    -- One commit is one row; several rows sharing a change id are a divergent change.
    CONSTRAINT changes_repository_id_commit_id_key UNIQUE (repository_id, commit_id),
    CONSTRAINT changes_repository_id_id_key UNIQUE (repository_id, id)
);

-- Change-id prefix resolution (COLLATE "C" range scan) and divergence detection.
CREATE INDEX changes_repository_id_change_id_idx ON changes (repository_id, change_id);
CREATE INDEX changes_repository_id_committed_at_idx ON changes (repository_id, committed_at, id);
CREATE INDEX changes_author_id_idx ON changes (author_id) WHERE author_id IS NOT NULL;

CREATE TRIGGER changes_set_updated_at BEFORE UPDATE ON changes
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE changes IS
    'jj changes as seen by the forge, one row per commit: a change id maps to several commits when divergent (unique is (repository_id, commit_id), not the change id). Ids resolve by unique prefix over the COLLATE "C" indexes.';
COMMENT ON COLUMN changes.change_id IS 'jj change id, 32 chars of k-z; stable across rewrites.';
COMMENT ON COLUMN changes.commit_id IS 'Commit id, 40 hex (git backend); changes on every rewrite.';
COMMENT ON COLUMN changes.author_id IS 'The forge user matched to the author signature, if any; NULL after that account is deleted.';
COMMENT ON COLUMN changes.hidden IS 'Abandoned or rewritten: no longer visible in the repository view (jj keeps it reachable through the operation log).';
COMMENT ON COLUMN changes.parent_commit_ids IS 'Parent commits (several for a merge, none for the root).';
COMMENT ON COLUMN changes.author_name IS 'Author signature as recorded in the commit.';
COMMENT ON COLUMN changes.authored_at IS 'Author timestamp of the commit.';
COMMENT ON COLUMN changes.committed_at IS 'Committer timestamp; list order of a repository''s changes.';
COMMENT ON COLUMN changes.empty IS 'The commit changes no file.';


CREATE TABLE parts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    change_row_id  bigint NOT NULL,
    path           text NOT NULL,
    status         text NOT NULL,
    old_path       text,
    old_blob_hash  bytea REFERENCES blobs (hash) ON DELETE RESTRICT,
    new_blob_hash  bytea REFERENCES blobs (hash) ON DELETE RESTRICT,
    additions      integer NOT NULL DEFAULT 0,
    deletions      integer NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT parts_path_check CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT parts_old_path_check CHECK (char_length(old_path) BETWEEN 1 AND 4096 AND old_path !~ '[[:cntrl:]]'),
    CONSTRAINT parts_status_check
        CHECK (status IN ('added', 'modified', 'deleted', 'renamed', 'copied', 'conflicted')),
    CONSTRAINT parts_old_path_status_check CHECK ((status IN ('renamed', 'copied')) = (old_path IS NOT NULL)),
    CONSTRAINT parts_lines_check CHECK (additions >= 0 AND deletions >= 0),
    CONSTRAINT parts_change_path_key UNIQUE (repository_id, change_row_id, path),
    CONSTRAINT parts_change_fkey FOREIGN KEY (repository_id, change_row_id)
        REFERENCES changes (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX parts_old_blob_hash_idx ON parts (old_blob_hash) WHERE old_blob_hash IS NOT NULL;
CREATE INDEX parts_new_blob_hash_idx ON parts (new_blob_hash) WHERE new_blob_hash IS NOT NULL;

CREATE TRIGGER parts_refuse_update BEFORE UPDATE ON parts
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE parts IS
    'The parts of a change: one row per path the commit touches, with the blobs before and after and line counts. Derived from an immutable commit, so append-only.';
COMMENT ON COLUMN parts.change_row_id IS 'changes.id of the commit (the row, not the jj change id).';
COMMENT ON COLUMN parts.status IS 'added | modified | deleted | renamed | copied | conflicted.';
COMMENT ON COLUMN parts.old_path IS 'Source path of a rename or copy (set exactly for those).';
COMMENT ON COLUMN parts.old_blob_hash IS 'Content before (NULL when added).';
COMMENT ON COLUMN parts.new_blob_hash IS 'Content after (NULL when deleted).';


CREATE TABLE jj_operations (
    id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id        bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    operation_id         text COLLATE "C" NOT NULL,
    parent_operation_ids text[] COLLATE "C" NOT NULL DEFAULT '{}',
    view_id              text COLLATE "C" NOT NULL,
    view                 jsonb NOT NULL DEFAULT '{}',
    metadata             jsonb NOT NULL DEFAULT '{}',
    is_snapshot          boolean NOT NULL DEFAULT false,
    started_at           timestamptz NOT NULL,
    ended_at             timestamptz NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jj_operations_operation_id_check CHECK (operation_id ~ '^[0-9a-f]{128}$'),
    CONSTRAINT jj_operations_view_id_check CHECK (view_id ~ '^[0-9a-f]{128}$'),
    CONSTRAINT jj_operations_parent_operation_ids_check
        CHECK (cardinality(parent_operation_ids) <= 64
               AND array_position(parent_operation_ids, NULL) IS NULL
               AND array_to_string(parent_operation_ids, ',') ~ '^([0-9a-f]{128}(,[0-9a-f]{128})*)?$'),
    CONSTRAINT jj_operations_view_check CHECK (jsonb_typeof(view) = 'object'),
    CONSTRAINT jj_operations_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT jj_operations_time_check CHECK (ended_at >= started_at),
    CONSTRAINT jj_operations_repository_id_operation_id_key UNIQUE (repository_id, operation_id)
);

CREATE INDEX jj_operations_repository_id_created_at_idx ON jj_operations (repository_id, created_at, id);

CREATE TRIGGER jj_operations_refuse_update BEFORE UPDATE ON jj_operations
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE jj_operations IS
    'The jj operation log of a repository: each operation points at a view (heads, bookmarks, working-copy commits) and its parent operations (several after a concurrent-operation merge). Operations are immutable in jj: append-only. UUIDv7 key: operations arrive at machine rate from agents.';
COMMENT ON COLUMN jj_operations.operation_id IS 'jj operation id, 128 hex (BLAKE2b-512); resolves by unique prefix.';
COMMENT ON COLUMN jj_operations.view IS 'The operation''s view as JSON (heads, bookmarks, working-copy commits per workspace).';
COMMENT ON COLUMN jj_operations.metadata IS 'jj operation metadata: description, hostname, username, tags.';
COMMENT ON COLUMN jj_operations.is_snapshot IS 'The operation only snapshotted a working copy.';
COMMENT ON COLUMN jj_operations.parent_operation_ids IS 'Parent operation ids (several after concurrent operations were merged).';
COMMENT ON COLUMN jj_operations.view_id IS 'jj view id, 128 hex.';


CREATE TABLE jj_workspaces (
    id                      uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id           bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id                 bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                    text NOT NULL,
    state                   text NOT NULL DEFAULT 'provisioning',
    host                    text,
    path                    text,
    working_copy_commit_id  text COLLATE "C",
    last_operation_id       text COLLATE "C",
    last_synced_at          timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jj_workspaces_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$'),
    CONSTRAINT jj_workspaces_state_check CHECK (state IN ('provisioning', 'active', 'stale', 'archived')),
    CONSTRAINT jj_workspaces_host_check CHECK (char_length(host) BETWEEN 1 AND 255),
    CONSTRAINT jj_workspaces_path_check CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT jj_workspaces_working_copy_commit_id_check CHECK (working_copy_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT jj_workspaces_last_operation_id_check CHECK (last_operation_id ~ '^[0-9a-f]{128}$'),
    CONSTRAINT jj_workspaces_repository_id_name_key UNIQUE (repository_id, name),
    CONSTRAINT jj_workspaces_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT jj_workspaces_last_operation_fkey FOREIGN KEY (repository_id, last_operation_id)
        REFERENCES jj_operations (repository_id, operation_id) ON DELETE SET NULL (last_operation_id)
);

CREATE INDEX jj_workspaces_user_id_idx ON jj_workspaces (user_id, state);
CREATE INDEX jj_workspaces_last_operation_idx
    ON jj_workspaces (repository_id, last_operation_id) WHERE last_operation_id IS NOT NULL;
CREATE INDEX jj_workspaces_sync_idx ON jj_workspaces (last_synced_at) WHERE state = 'active';

CREATE TRIGGER jj_workspaces_set_updated_at BEFORE UPDATE ON jj_workspaces
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER jj_workspaces_state_transition BEFORE UPDATE OF state ON jj_workspaces
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'provisioning>active', 'provisioning>archived', 'active>stale', 'stale>active',
        'active>archived', 'stale>archived');

COMMENT ON TABLE jj_workspaces IS
    'jj workspaces (working copies) a person or agent works in: provisioning -> active <-> stale -> archived (stale = the working copy is behind the repository''s operation log and needs jj workspace update-stale).';
COMMENT ON COLUMN jj_workspaces.last_operation_id IS 'The operation the working copy was last synced to.';
COMMENT ON COLUMN jj_workspaces.last_synced_at IS 'Last successful sync with the forge; drives staleness detection.';
COMMENT ON COLUMN jj_workspaces.working_copy_commit_id IS 'The workspace''s working-copy commit (@) as last synced.';
COMMENT ON COLUMN jj_workspaces.host IS 'Machine the working copy lives on.';
COMMENT ON COLUMN jj_workspaces.path IS 'Path of the working copy on that machine.';


CREATE TABLE file_trackers (
    workspace_id   uuid NOT NULL,
    repository_id  bigint NOT NULL,
    path           text NOT NULL,
    file_type      text NOT NULL DEFAULT 'normal',
    size           bigint NOT NULL DEFAULT 0,
    mtime          timestamptz,
    blob_hash      bytea REFERENCES blobs (hash) ON DELETE RESTRICT,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, workspace_id, path),
    CONSTRAINT file_trackers_path_check CHECK (char_length(path) BETWEEN 1 AND 4096 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT file_trackers_file_type_check
        CHECK (file_type IN ('normal', 'executable', 'symlink', 'conflict', 'git_submodule')),
    CONSTRAINT file_trackers_size_check CHECK (size >= 0),
    CONSTRAINT file_trackers_workspace_fkey FOREIGN KEY (repository_id, workspace_id)
        REFERENCES jj_workspaces (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX file_trackers_blob_hash_idx ON file_trackers (blob_hash) WHERE blob_hash IS NOT NULL;

CREATE TRIGGER file_trackers_set_updated_at BEFORE UPDATE ON file_trackers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE file_trackers IS
    'The tracked files of a workspace''s working copy (jj''s tree state): type, size and mtime let a snapshot skip unchanged files; blob_hash is the content last snapshotted.';
COMMENT ON COLUMN file_trackers.file_type IS 'normal | executable | symlink | conflict | git_submodule.';
COMMENT ON COLUMN file_trackers.size IS 'Size at the last snapshot; with mtime, lets a snapshot skip unchanged files.';
COMMENT ON COLUMN file_trackers.mtime IS 'Modification time at the last snapshot.';
COMMENT ON COLUMN file_trackers.blob_hash IS 'Content at the last snapshot, if uploaded.';


CREATE TABLE snapshot_history (
    id                      uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id           bigint NOT NULL,
    workspace_id            uuid NOT NULL,
    operation_id            text COLLATE "C" NOT NULL,
    working_copy_commit_id  text COLLATE "C" NOT NULL,
    files_changed           integer NOT NULL DEFAULT 0,
    duration_ms             integer,
    created_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshot_history_operation_id_check CHECK (operation_id ~ '^[0-9a-f]{128}$'),
    CONSTRAINT snapshot_history_working_copy_commit_id_check CHECK (working_copy_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT snapshot_history_files_changed_check CHECK (files_changed >= 0),
    CONSTRAINT snapshot_history_duration_ms_check CHECK (duration_ms >= 0),
    CONSTRAINT snapshot_history_workspace_fkey FOREIGN KEY (repository_id, workspace_id)
        REFERENCES jj_workspaces (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT snapshot_history_operation_fkey FOREIGN KEY (repository_id, operation_id)
        REFERENCES jj_operations (repository_id, operation_id) ON DELETE CASCADE
);

CREATE INDEX snapshot_history_workspace_idx ON snapshot_history (repository_id, workspace_id, id);
CREATE INDEX snapshot_history_operation_idx ON snapshot_history (repository_id, operation_id);

CREATE TRIGGER snapshot_history_refuse_update BEFORE UPDATE ON snapshot_history
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE snapshot_history IS
    'Each working-copy snapshot of a workspace: the snapshot operation and the resulting working-copy commit. A log: append-only; UUIDv7 keys, so (workspace, id) is time order.';
COMMENT ON COLUMN snapshot_history.files_changed IS 'Files whose content changed in this snapshot.';


-- =============================================================================================
-- 8. Infrastructure & coordination: runners, rate limits, SSH keys, commit statuses,
--    configuration, the durable event bus, leases, health and alerts
-- =============================================================================================

CREATE TABLE runner_pool (
    id                 uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id      bigint REFERENCES repositories (id) ON DELETE CASCADE,
    name               text NOT NULL,
    labels             text[] NOT NULL DEFAULT '{}',
    state              text NOT NULL DEFAULT 'idle',
    capacity           smallint NOT NULL DEFAULT 1,
    token_digest       bytea NOT NULL,
    hostname           text,
    version            text,
    last_heartbeat_at  timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT runner_pool_name_check CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '^[A-Za-z0-9][A-Za-z0-9._-]*$'),
    CONSTRAINT runner_pool_labels_check
        CHECK (cardinality(labels) <= 50
               AND array_position(labels, NULL) IS NULL
               AND array_to_string(labels, ',') ~ '^([A-Za-z0-9._:-]{1,64}(,[A-Za-z0-9._:-]{1,64})*)?$'),
    CONSTRAINT runner_pool_state_check CHECK (state IN ('idle', 'busy', 'draining', 'offline')),
    CONSTRAINT runner_pool_capacity_check CHECK (capacity BETWEEN 1 AND 1024),
    CONSTRAINT runner_pool_token_digest_check CHECK (octet_length(token_digest) = 32),
    CONSTRAINT runner_pool_token_digest_key UNIQUE (token_digest),
    CONSTRAINT runner_pool_hostname_check CHECK (char_length(hostname) BETWEEN 1 AND 255),
    CONSTRAINT runner_pool_version_check CHECK (char_length(version) BETWEEN 1 AND 100)
);

CREATE UNIQUE INDEX runner_pool_name_lower_key ON runner_pool (lower(name));
CREATE INDEX runner_pool_repository_id_idx ON runner_pool (repository_id) WHERE repository_id IS NOT NULL;
-- Dead-runner detection.
CREATE INDEX runner_pool_heartbeat_idx ON runner_pool (last_heartbeat_at) WHERE state <> 'offline';
CREATE INDEX runner_pool_labels_idx ON runner_pool USING gin (labels);

CREATE TRIGGER runner_pool_set_updated_at BEFORE UPDATE ON runner_pool
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE runner_pool IS
    'Registered workflow runners: shared (repository_id NULL) or dedicated to one repository, with labels that jobs select on and a heartbeat.';
COMMENT ON COLUMN runner_pool.token_digest IS 'sha256 of the runner''s registration token; the token itself is never stored.';
COMMENT ON COLUMN runner_pool.labels IS 'Capabilities jobs select on (os, arch, gpu...).';
COMMENT ON COLUMN runner_pool.capacity IS 'Jobs the runner runs at once.';


CREATE TABLE rate_limits (
    key          text PRIMARY KEY,
    capacity     integer NOT NULL,
    refill_rate  numeric NOT NULL,
    tokens       numeric NOT NULL,
    refilled_at  timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rate_limits_key_check CHECK (char_length(key) BETWEEN 1 AND 255),
    CONSTRAINT rate_limits_capacity_check CHECK (capacity > 0),
    CONSTRAINT rate_limits_refill_rate_check CHECK (refill_rate > 0),
    CONSTRAINT rate_limits_tokens_check CHECK (tokens >= 0 AND tokens <= capacity)
);

CREATE INDEX rate_limits_refilled_at_idx ON rate_limits (refilled_at);

CREATE TRIGGER rate_limits_set_updated_at BEFORE UPDATE ON rate_limits
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE rate_limits IS
    'Token buckets keyed by caller and action (e.g. ''user:42:issues.create''). One statement takes a token: INSERT ... ON CONFLICT (key) DO UPDATE SET tokens = least(capacity, tokens + elapsed * refill_rate) - cost ... WHERE that is >= 0 RETURNING; no row back = limited. Idle full buckets are purged by refilled_at.';
COMMENT ON COLUMN rate_limits.refill_rate IS 'Tokens added per second, up to capacity.';
COMMENT ON COLUMN rate_limits.tokens IS 'Tokens left as of refilled_at.';
COMMENT ON COLUMN rate_limits.key IS 'What is limited, e.g. user:42:issues.create or ip:203.0.113.7:siwe.';
COMMENT ON COLUMN rate_limits.capacity IS 'Bucket size: the largest burst.';


CREATE TABLE ssh_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title         text NOT NULL,
    key_type      text NOT NULL,
    public_key    text NOT NULL,
    fingerprint   text NOT NULL,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ssh_keys_title_check
        CHECK (char_length(title) BETWEEN 1 AND 100 AND btrim(title) <> '' AND title !~ '[[:cntrl:]]'),
    CONSTRAINT ssh_keys_key_type_check
        CHECK (key_type IN ('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384',
                            'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com',
                            'sk-ecdsa-sha2-nistp256@openssh.com')),
    -- The key line without its comment: "<type> <base64>".
    CONSTRAINT ssh_keys_public_key_check
        CHECK (char_length(public_key) <= 16384 AND public_key ~ '^[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}$'
               AND split_part(public_key, ' ', 1) = key_type),
    -- OpenSSH's SHA256 fingerprint: unpadded base64 of 32 bytes.
    CONSTRAINT ssh_keys_fingerprint_check CHECK (fingerprint ~ '^SHA256:[A-Za-z0-9+/]{43}$'),
    CONSTRAINT ssh_keys_fingerprint_key UNIQUE (fingerprint)
);

CREATE INDEX ssh_keys_user_id_idx ON ssh_keys (user_id, created_at, id);

CREATE TRIGGER ssh_keys_set_updated_at BEFORE UPDATE ON ssh_keys
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE ssh_keys IS
    'Users'' SSH public keys for jj/git over SSH. A key belongs to one account: the fingerprint is unique across users.';
COMMENT ON COLUMN ssh_keys.public_key IS 'The key line without its comment: type and base64 blob.';
COMMENT ON COLUMN ssh_keys.fingerprint IS 'SHA256:<base64>, as ssh-keygen -l prints it; unique across users.';


CREATE TABLE commit_statuses (
    id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id  bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    commit_id      text COLLATE "C" NOT NULL,
    context        text NOT NULL,
    state          text NOT NULL,
    description    text NOT NULL DEFAULT '',
    target_url     text,
    creator_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT commit_statuses_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT commit_statuses_context_check
        CHECK (char_length(context) BETWEEN 1 AND 255 AND context !~ '[[:cntrl:]]'),
    CONSTRAINT commit_statuses_state_check CHECK (state IN ('pending', 'success', 'failure', 'error')),
    CONSTRAINT commit_statuses_description_check CHECK (char_length(description) <= 1024),
    CONSTRAINT commit_statuses_target_url_check
        CHECK (char_length(target_url) <= 2048 AND target_url ~ '^https?://[^[:space:][:cntrl:]]+$'),
    CONSTRAINT commit_statuses_repository_id_commit_id_context_key UNIQUE (repository_id, commit_id, context)
);

CREATE INDEX commit_statuses_creator_id_idx ON commit_statuses (creator_id) WHERE creator_id IS NOT NULL;

CREATE TRIGGER commit_statuses_set_updated_at BEFORE UPDATE ON commit_statuses
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE commit_statuses IS
    'CI results per commit and context (the latest one: reporting again upserts on (repository_id, commit_id, context)). Landing checks them against protected_branches.required_status_contexts.';
COMMENT ON COLUMN commit_statuses.context IS 'Name of the check, e.g. ci/test; matched by protected_branches.required_status_contexts.';


CREATE TABLE configurations (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint REFERENCES repositories (id) ON DELETE CASCADE,
    key            text NOT NULL,
    value_type     text NOT NULL,
    value          jsonb NOT NULL,
    secret         boolean NOT NULL DEFAULT false,
    description    text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT configurations_key_check CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND char_length(key) <= 128),
    CONSTRAINT configurations_value_type_check
        CHECK (value_type IN ('string', 'integer', 'number', 'boolean', 'duration', 'json')),
    -- The JSON value has the declared type: readers can cast without guarding.
    CONSTRAINT configurations_value_check
        CHECK (CASE value_type
                   WHEN 'string' THEN jsonb_typeof(value) = 'string'
                   WHEN 'integer' THEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]+$'
                   WHEN 'number' THEN jsonb_typeof(value) = 'number'
                   WHEN 'boolean' THEN jsonb_typeof(value) = 'boolean'
                   WHEN 'duration' THEN jsonb_typeof(value) = 'number' AND (value::text)::numeric >= 0
                   ELSE true
               END
               AND octet_length(value::text) <= 65536),
    CONSTRAINT configurations_description_check CHECK (char_length(description) <= 1024)
);

-- One value per key and scope; NULLS NOT DISTINCT makes the global scope (NULL) unique too.
CREATE UNIQUE INDEX configurations_scope_key_key ON configurations (repository_id, key) NULLS NOT DISTINCT;

CREATE TRIGGER configurations_set_updated_at BEFORE UPDATE ON configurations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE configurations IS
    'Typed settings, global (repository_id NULL) or per repository, which overrides global. Read with a typed cast according to value_type.';
COMMENT ON COLUMN configurations.value_type IS 'string | integer | number | boolean | duration (seconds) | json; configurations_value_check keeps value in that type.';
COMMENT ON COLUMN configurations.secret IS 'Redacted in listings, logs and exports; readable only by the component that needs it.';
COMMENT ON COLUMN configurations.key IS 'Dotted lowercase name, e.g. landing.max_attempts.';
COMMENT ON COLUMN configurations.value IS 'JSON value of the type value_type names.';


CREATE TABLE event_subscriptions (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                 text NOT NULL,
    topic_pattern        text NOT NULL,
    repository_id        bigint REFERENCES repositories (id) ON DELETE CASCADE,
    active               boolean NOT NULL DEFAULT true,
    max_attempts         integer NOT NULL DEFAULT 10,
    ack_timeout_seconds  integer NOT NULL DEFAULT 60,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT event_subscriptions_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND name ~ '^[A-Za-z0-9][A-Za-z0-9._:-]*$'),
    -- An exact topic, a prefix followed by .* (everything below it), or * (everything).
    CONSTRAINT event_subscriptions_topic_pattern_check
        CHECK (char_length(topic_pattern) <= 200
               AND topic_pattern ~ '^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$'),
    CONSTRAINT event_subscriptions_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 1000),
    CONSTRAINT event_subscriptions_ack_timeout_seconds_check CHECK (ack_timeout_seconds BETWEEN 1 AND 86400)
);

CREATE UNIQUE INDEX event_subscriptions_name_lower_key ON event_subscriptions (lower(name));
CREATE INDEX event_subscriptions_repository_id_idx ON event_subscriptions (repository_id) WHERE repository_id IS NOT NULL;

CREATE TRIGGER event_subscriptions_set_updated_at BEFORE UPDATE ON event_subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE event_subscriptions IS
    'Durable consumers of the event bus: a named subscription receives every event published after it exists whose topic matches, optionally for one repository only.';
COMMENT ON COLUMN event_subscriptions.ack_timeout_seconds IS 'A delivery not acknowledged this long after being taken becomes available again.';
COMMENT ON COLUMN event_subscriptions.topic_pattern IS 'An exact topic, prefix.* for everything below prefix, or * for all.';


CREATE TABLE events (
    id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    topic          text NOT NULL,
    repository_id  bigint REFERENCES repositories (id) ON DELETE CASCADE,
    payload        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_topic_check
        CHECK (char_length(topic) <= 200 AND topic ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
    CONSTRAINT events_payload_check
        CHECK (jsonb_typeof(payload) = 'object' AND octet_length(payload::text) <= 1048576)
);

CREATE INDEX events_topic_idx ON events (topic, id);
CREATE INDEX events_repository_id_idx ON events (repository_id, id) WHERE repository_id IS NOT NULL;
CREATE INDEX events_created_at_idx ON events (created_at);

CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE events IS
    'The durable event bus: published facts (topic + JSON payload), immutable (append-only). Publishing is one INSERT; the events_fan_out trigger queues a delivery per matching subscription in the same transaction, so an event is delivered if and only if its publisher committed.';
COMMENT ON COLUMN events.topic IS 'Dotted lowercase name, e.g. issues.created, landing.landed.';


CREATE TABLE event_deliveries (
    subscription_id  bigint NOT NULL REFERENCES event_subscriptions (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    state            text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    available_at     timestamptz NOT NULL DEFAULT now(),
    acked_at         timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, event_id),
    CONSTRAINT event_deliveries_state_check CHECK (state IN ('pending', 'in_flight', 'acked', 'dead')),
    CONSTRAINT event_deliveries_attempts_check CHECK (attempts >= 0),
    CONSTRAINT event_deliveries_acked_check CHECK ((state = 'acked') = (acked_at IS NOT NULL)),
    CONSTRAINT event_deliveries_last_error_check CHECK (char_length(last_error) <= 4096)
);

-- Consumers take work in event order: WHERE subscription_id = $1 AND state IN ('pending',
-- 'in_flight') AND available_at <= now() ORDER BY available_at, event_id FOR UPDATE SKIP LOCKED.
CREATE INDEX event_deliveries_claim_idx
    ON event_deliveries (subscription_id, available_at, event_id) WHERE state IN ('pending', 'in_flight');
CREATE INDEX event_deliveries_event_id_idx ON event_deliveries (event_id);

CREATE TRIGGER event_deliveries_set_updated_at BEFORE UPDATE ON event_deliveries
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER event_deliveries_state_transition BEFORE UPDATE OF state ON event_deliveries
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>in_flight', 'in_flight>acked', 'in_flight>pending', 'in_flight>dead', 'pending>dead');

COMMENT ON TABLE event_deliveries IS
    'One row per (subscription, event): the acknowledgement state of a delivery. Taking a delivery sets in_flight and pushes available_at by the ack timeout, so an unacknowledged one is redelivered; ack sets acked; after max_attempts it goes dead.';
COMMENT ON COLUMN event_deliveries.available_at IS 'Not before this may the delivery be taken (again).';
COMMENT ON COLUMN event_deliveries.attempts IS 'Times the delivery was taken; max_attempts of the subscription ends in dead.';

CREATE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    INSERT INTO event_deliveries (subscription_id, event_id)
    SELECT s.id, NEW.id
      FROM event_subscriptions AS s
     WHERE s.active
       AND (s.repository_id IS NULL OR s.repository_id = NEW.repository_id)
       AND (s.topic_pattern = '*'
            OR s.topic_pattern = NEW.topic
            OR (right(s.topic_pattern, 2) = '.*' AND starts_with(NEW.topic, left(s.topic_pattern, -1))));
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION events_fan_out() IS
    'AFTER INSERT row trigger on events: queues a delivery for every active subscription whose topic pattern (and repository, if set) matches.';

CREATE TRIGGER events_fan_out AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION events_fan_out();


CREATE SEQUENCE lease_fencing_tokens AS bigint;

COMMENT ON SEQUENCE lease_fencing_tokens IS
    'Fencing tokens of leases: strictly increasing across all leases and acquisitions, also after a lease row is deleted.';

CREATE TABLE leases (
    name           text PRIMARY KEY,
    holder         text NOT NULL,
    fencing_token  bigint NOT NULL DEFAULT nextval('lease_fencing_tokens'),
    acquired_at    timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leases_name_check CHECK (char_length(name) BETWEEN 1 AND 255 AND name !~ '[[:cntrl:]]'),
    CONSTRAINT leases_holder_check CHECK (char_length(holder) BETWEEN 1 AND 255 AND holder !~ '[[:cntrl:]]'),
    CONSTRAINT leases_expiry_check CHECK (expires_at >= acquired_at)
);

CREATE INDEX leases_expires_at_idx ON leases (expires_at);

CREATE TRIGGER leases_set_updated_at BEFORE UPDATE ON leases
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE leases IS
    'TTL locks on named resources. Acquire: INSERT ... ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, fencing_token = nextval(''lease_fencing_tokens''), acquired_at = now(), expires_at = EXCLUDED.expires_at WHERE leases.expires_at <= now() RETURNING fencing_token (renewal by the holder keeps its token). Whoever writes on the holder''s behalf checks the fencing token, so a holder that outlived its lease cannot clobber its successor.';
COMMENT ON COLUMN leases.fencing_token IS 'From lease_fencing_tokens: a new, larger token on every acquisition.';
COMMENT ON COLUMN leases.holder IS 'Who holds the lease (process or worker id).';
COMMENT ON COLUMN leases.expires_at IS 'The lease is free after this; renewing pushes it.';

-- Leases on named resources as schema functions, so that every domain that holds one (workspace
-- locks, singleton jobs, coordination's leases) takes, renews and gives it back the same way.
-- Tokens come from lease_fencing_tokens: every acquisition gets a larger one; a renewal by the
-- holder keeps its token.

CREATE FUNCTION lease_acquire(p_name text, p_holder text, p_ttl interval)
RETURNS TABLE (fencing_token bigint, holder text, expires_at timestamptz, acquired boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
BEGIN
    IF p_ttl IS NULL OR p_ttl <= interval '0' THEN
        RAISE EXCEPTION USING ERRCODE = 'FDI01', COLUMN = 'ttl', MESSAGE = 'ttl: must be positive';
    END IF;
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
    'Take the lease p_name for p_holder until now() + p_ttl: free or expired, it is taken with a new, larger fencing token; already held by p_holder, it is renewed and keeps its token; held by another, nothing changes and the current holder is returned with acquired = false.';

CREATE FUNCTION lease_renew(p_name text, p_holder text, p_token bigint, p_ttl interval)
RETURNS timestamptz
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    v_expires timestamptz;
BEGIN
    UPDATE leases SET expires_at = now() + p_ttl
     WHERE name = p_name AND holder = p_holder AND fencing_token = p_token AND expires_at > now()
    RETURNING expires_at INTO v_expires;
    IF v_expires IS NULL THEN
        RAISE EXCEPTION 'lease % is not held by % with token %', p_name, p_holder, p_token
            USING ERRCODE = 'FDC01', TABLE = 'leases';
    END IF;
    RETURN v_expires;
END
$$;

COMMENT ON FUNCTION lease_renew(text, text, bigint, interval) IS
    'Extend a live lease held by p_holder with fencing token p_token to now() + p_ttl and return the new expiry; an expired, released or taken-over lease raises FDC01.';

CREATE FUNCTION lease_release(p_name text, p_holder text, p_token bigint)
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
    WITH released AS (
        DELETE FROM leases
         WHERE name = p_name AND holder = p_holder AND fencing_token = p_token
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM released)
$$;

COMMENT ON FUNCTION lease_release(text, text, bigint) IS
    'Give the lease back; false when p_holder no longer holds it with p_token (it expired and was taken over, or was released already).';


CREATE TABLE component_health (
    component          text NOT NULL,
    instance           text NOT NULL,
    status             text NOT NULL,
    details            jsonb NOT NULL DEFAULT '{}',
    version            text,
    last_heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (component, instance),
    CONSTRAINT component_health_component_check CHECK (component ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    CONSTRAINT component_health_instance_check CHECK (char_length(instance) BETWEEN 1 AND 255 AND instance !~ '[[:cntrl:]]'),
    CONSTRAINT component_health_status_check CHECK (status IN ('ok', 'degraded', 'down')),
    CONSTRAINT component_health_details_check
        CHECK (jsonb_typeof(details) = 'object' AND octet_length(details::text) <= 65536),
    CONSTRAINT component_health_version_check CHECK (char_length(version) BETWEEN 1 AND 100)
);

CREATE INDEX component_health_heartbeat_idx ON component_health (last_heartbeat_at);

CREATE TRIGGER component_health_set_updated_at BEFORE UPDATE ON component_health
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE component_health IS
    'Latest health report of each running instance of each component (landing worker, runner, event consumer...), upserted with each heartbeat. An instance whose heartbeat is old is presumed dead.';
COMMENT ON COLUMN component_health.instance IS 'The running instance (host:pid, pod name...).';


CREATE TABLE alerts (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component            text NOT NULL,
    severity             text NOT NULL,
    state                text NOT NULL DEFAULT 'firing',
    dedupe_key           text NOT NULL,
    title                text NOT NULL,
    details              text NOT NULL DEFAULT '',
    acknowledged_by_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    acknowledged_at      timestamptz,
    resolved_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alerts_component_check CHECK (component ~ '^[a-z][a-z0-9_.-]{0,99}$'),
    CONSTRAINT alerts_severity_check CHECK (severity IN ('info', 'warning', 'critical')),
    CONSTRAINT alerts_state_check CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    CONSTRAINT alerts_dedupe_key_check CHECK (char_length(dedupe_key) BETWEEN 1 AND 255),
    CONSTRAINT alerts_title_check CHECK (char_length(title) BETWEEN 1 AND 256 AND btrim(title) <> ''),
    CONSTRAINT alerts_details_check CHECK (char_length(details) <= 65536),
    CONSTRAINT alerts_acknowledged_check CHECK (state <> 'acknowledged' OR acknowledged_at IS NOT NULL),
    CONSTRAINT alerts_resolved_check CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);

-- One open alert per dedupe key: a condition that keeps firing updates its alert.
CREATE UNIQUE INDEX alerts_open_dedupe_key_key ON alerts (dedupe_key) WHERE state <> 'resolved';
CREATE INDEX alerts_state_created_at_idx ON alerts (state, created_at, id);
CREATE INDEX alerts_acknowledged_by_id_idx ON alerts (acknowledged_by_id) WHERE acknowledged_by_id IS NOT NULL;

CREATE TRIGGER alerts_set_updated_at BEFORE UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER alerts_state_transition BEFORE UPDATE OF state ON alerts
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'firing>acknowledged', 'firing>resolved', 'acknowledged>resolved', 'acknowledged>firing');

COMMENT ON TABLE alerts IS
    'Operational alerts raised by components: firing -> acknowledged -> resolved (resolved is final; a recurrence opens a new alert). Deduplicated while open by dedupe_key.';
COMMENT ON COLUMN alerts.dedupe_key IS 'Identifies the condition; one open alert per key.';


-- =============================================================================================
-- 9. Workflows & agents: definitions, runs, steps, logs, agent sessions, LLM usage, tool
--    executions
-- =============================================================================================

CREATE TABLE workflow_definitions (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id     bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name              text NOT NULL,
    path              text NOT NULL,
    definition        jsonb NOT NULL,
    source_commit_id  text COLLATE "C",
    enabled           boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_definitions_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND btrim(name) <> '' AND name !~ '[[:cntrl:]]'),
    CONSTRAINT workflow_definitions_path_check
        CHECK (char_length(path) BETWEEN 1 AND 1024 AND path !~ '[[:cntrl:]]'),
    CONSTRAINT workflow_definitions_definition_check
        CHECK (jsonb_typeof(definition) = 'object' AND octet_length(definition::text) <= 1048576),
    CONSTRAINT workflow_definitions_source_commit_id_check CHECK (source_commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT workflow_definitions_repository_id_id_key UNIQUE (repository_id, id)
);

CREATE UNIQUE INDEX workflow_definitions_repository_id_name_lower_key
    ON workflow_definitions (repository_id, lower(name));

CREATE TRIGGER workflow_definitions_set_updated_at BEFORE UPDATE ON workflow_definitions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE workflow_definitions IS
    'Workflows of a repository (CI, agent tasks): the parsed definition file at path, as of source_commit_id.';
COMMENT ON COLUMN workflow_definitions.definition IS 'The parsed workflow (triggers, steps, limits) as JSON.';


CREATE TABLE workflow_runs (
    id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id    bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    definition_id    bigint,
    parent_run_id    uuid REFERENCES workflow_runs (id) ON DELETE SET NULL,
    triggered_by_id  bigint REFERENCES users (id) ON DELETE SET NULL,
    runner_id        uuid REFERENCES runner_pool (id) ON DELETE SET NULL,
    trigger          text NOT NULL,
    state            text NOT NULL DEFAULT 'queued',
    idempotency_key  text,
    inputs           jsonb NOT NULL DEFAULT '{}',
    commit_id        text COLLATE "C",
    error            text,
    started_at       timestamptz,
    finished_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_runs_trigger_check
        CHECK (trigger IN ('manual', 'push', 'schedule', 'landing', 'issue', 'agent', 'api')),
    CONSTRAINT workflow_runs_state_check
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    CONSTRAINT workflow_runs_idempotency_key_check
        CHECK (char_length(idempotency_key) BETWEEN 1 AND 255 AND idempotency_key !~ '[[:cntrl:]]'),
    CONSTRAINT workflow_runs_inputs_check
        CHECK (jsonb_typeof(inputs) = 'object' AND octet_length(inputs::text) <= 1048576),
    CONSTRAINT workflow_runs_commit_id_check CHECK (commit_id ~ '^[0-9a-f]{40}$'),
    CONSTRAINT workflow_runs_error_check CHECK (char_length(error) <= 65536),
    CONSTRAINT workflow_runs_not_own_parent_check CHECK (parent_run_id <> id),
    CONSTRAINT workflow_runs_started_check CHECK ((state = 'queued') = (started_at IS NULL) OR state = 'cancelled'),
    CONSTRAINT workflow_runs_finished_check
        CHECK ((state IN ('succeeded', 'failed', 'cancelled', 'timed_out')) = (finished_at IS NOT NULL)
               AND finished_at >= coalesce(started_at, created_at)),
    CONSTRAINT workflow_runs_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT workflow_runs_definition_fkey FOREIGN KEY (repository_id, definition_id)
        REFERENCES workflow_definitions (repository_id, id) ON DELETE SET NULL (definition_id)
)
-- Room on each page for the new versions of its runs' rows: no index names a column that a
-- run's transitions change (its state, its times, its counters), so they are HOT updates.
WITH (fillfactor = 85);

CREATE INDEX workflow_runs_repository_id_created_at_idx ON workflow_runs (repository_id, created_at, id);
CREATE INDEX workflow_runs_definition_idx
    ON workflow_runs (repository_id, definition_id, created_at, id) WHERE definition_id IS NOT NULL;
-- Idempotent submission: a retried request with the same key finds the run it created.
CREATE UNIQUE INDEX workflow_runs_repository_id_idempotency_key_key ON workflow_runs (repository_id, idempotency_key);
-- Agent genealogy: the children of a run.
CREATE INDEX workflow_runs_parent_run_id_idx ON workflow_runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE INDEX workflow_runs_triggered_by_id_idx ON workflow_runs (triggered_by_id) WHERE triggered_by_id IS NOT NULL;
CREATE INDEX workflow_runs_runner_id_idx ON workflow_runs (runner_id) WHERE runner_id IS NOT NULL;
CREATE TRIGGER workflow_runs_set_updated_at BEFORE UPDATE ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER workflow_runs_state_transition BEFORE UPDATE OF state ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'queued>running', 'queued>cancelled',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out',
        'running>queued');

COMMENT ON TABLE workflow_runs IS
    'Executions of a workflow or an ad-hoc agent task. UUIDv7 ids (machine rate, time-ordered). queued -> running -> succeeded | failed | cancelled | timed_out; running -> queued when its runner is lost. Runs outlive their definition and their trigger''s account (SET NULL).';
COMMENT ON COLUMN workflow_runs.parent_run_id IS 'The run that spawned this one (agent genealogy); runs of other repositories allowed.';
COMMENT ON COLUMN workflow_runs.idempotency_key IS 'Client-chosen; unique per repository, so a retried submission cannot start a second run.';
COMMENT ON COLUMN workflow_runs.trigger IS 'What started the run: manual, push, schedule, landing, issue, agent, api.';
COMMENT ON COLUMN workflow_runs.inputs IS 'Input parameters of the run.';
COMMENT ON COLUMN workflow_runs.commit_id IS 'The commit the run works on.';


CREATE TABLE workflow_steps (
    id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id  bigint NOT NULL,
    run_id         uuid NOT NULL,
    position       integer NOT NULL,
    name           text NOT NULL,
    state          text NOT NULL DEFAULT 'pending',
    depends_on     integer[] NOT NULL DEFAULT '{}',
    attempts       integer NOT NULL DEFAULT 0,
    max_attempts   integer NOT NULL DEFAULT 1,
    runner_id      uuid REFERENCES runner_pool (id) ON DELETE SET NULL,
    exit_code      integer,
    output         jsonb,
    error          text,
    started_at     timestamptz,
    finished_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_steps_position_check CHECK (position >= 0),
    CONSTRAINT workflow_steps_name_check
        CHECK (char_length(name) BETWEEN 1 AND 100 AND btrim(name) <> '' AND name !~ '[[:cntrl:]]'),
    CONSTRAINT workflow_steps_state_check
        CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'cancelled')),
    -- Dependencies point at earlier positions only: the step graph is acyclic by construction.
    CONSTRAINT workflow_steps_depends_on_check
        CHECK (cardinality(depends_on) <= 256 AND array_position(depends_on, NULL) IS NULL
               AND position > ALL (depends_on) AND 0 <= ALL (depends_on)),
    CONSTRAINT workflow_steps_attempts_check CHECK (attempts >= 0 AND attempts <= max_attempts),
    CONSTRAINT workflow_steps_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),
    CONSTRAINT workflow_steps_output_check CHECK (octet_length(output::text) <= 1048576),
    CONSTRAINT workflow_steps_error_check CHECK (char_length(error) <= 65536),
    CONSTRAINT workflow_steps_finished_check CHECK (finished_at >= started_at),
    CONSTRAINT workflow_steps_run_position_key UNIQUE (repository_id, run_id, position),
    CONSTRAINT workflow_steps_run_id_id_key UNIQUE (run_id, id),
    CONSTRAINT workflow_steps_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX workflow_steps_runner_id_idx ON workflow_steps (runner_id) WHERE runner_id IS NOT NULL;

CREATE TRIGGER workflow_steps_set_updated_at BEFORE UPDATE ON workflow_steps
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER workflow_steps_state_transition BEFORE UPDATE OF state ON workflow_steps
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'pending>running', 'pending>skipped', 'pending>cancelled',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>pending',
        'failed>pending');

COMMENT ON TABLE workflow_steps IS
    'Steps of a run in position order. A step runs when every step it depends on has succeeded; a retry (failed -> pending) is allowed while attempts < max_attempts (attempts <= max_attempts is CHECKed).';
COMMENT ON COLUMN workflow_steps.depends_on IS 'Positions of earlier steps of the same run this step waits for.';
COMMENT ON COLUMN workflow_steps.position IS 'Order of the step within its run, from 0.';
COMMENT ON COLUMN workflow_steps.attempts IS 'Attempts started; at most max_attempts.';
COMMENT ON COLUMN workflow_steps.output IS 'Structured result of the step.';


CREATE TABLE workflow_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id  bigint NOT NULL,
    run_id         uuid NOT NULL,
    step_id        uuid,
    level          text NOT NULL DEFAULT 'info',
    message        text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_logs_level_check CHECK (level IN ('debug', 'info', 'warning', 'error')),
    CONSTRAINT workflow_logs_message_check CHECK (char_length(message) <= 65536),
    CONSTRAINT workflow_logs_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE,
    -- The step belongs to the same run.
    CONSTRAINT workflow_logs_step_fkey FOREIGN KEY (run_id, step_id)
        REFERENCES workflow_steps (run_id, id) ON DELETE CASCADE
);

-- A run's log in write order; tail -f is id > last seen.
CREATE INDEX workflow_logs_run_idx ON workflow_logs (repository_id, run_id, id);
CREATE INDEX workflow_logs_step_idx ON workflow_logs (run_id, step_id, id) WHERE step_id IS NOT NULL;

CREATE TRIGGER workflow_logs_refuse_update BEFORE UPDATE ON workflow_logs
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE workflow_logs IS
    'Log lines of runs and steps: high volume, append-only (UPDATE refused; deleted only with their run or by retention). A bigint identity orders lines within a run more cheaply than a UUID.';
COMMENT ON COLUMN workflow_logs.step_id IS 'The step that wrote the line (a step of the same run); NULL for run-level lines.';


CREATE TABLE agent_sessions (
    id                 uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id      bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id            bigint REFERENCES users (id) ON DELETE SET NULL,
    workflow_run_id    uuid,
    parent_session_id  uuid REFERENCES agent_sessions (id) ON DELETE SET NULL,
    workspace_id       uuid,
    agent              text NOT NULL,
    model              text,
    state              text NOT NULL DEFAULT 'active',
    goal               text NOT NULL DEFAULT '',
    summary            text,
    ended_at           timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT agent_sessions_agent_check
        CHECK (char_length(agent) BETWEEN 1 AND 100 AND agent !~ '[[:cntrl:]]'),
    CONSTRAINT agent_sessions_model_check CHECK (char_length(model) BETWEEN 1 AND 200 AND model !~ '[[:cntrl:]]'),
    CONSTRAINT agent_sessions_state_check CHECK (state IN ('active', 'completed', 'failed', 'cancelled')),
    CONSTRAINT agent_sessions_goal_check CHECK (char_length(goal) <= 65536),
    CONSTRAINT agent_sessions_summary_check CHECK (char_length(summary) <= 65536),
    CONSTRAINT agent_sessions_ended_check CHECK ((state = 'active') = (ended_at IS NULL)),
    CONSTRAINT agent_sessions_not_own_parent_check CHECK (parent_session_id <> id),
    CONSTRAINT agent_sessions_repository_id_id_key UNIQUE (repository_id, id),
    CONSTRAINT agent_sessions_run_fkey FOREIGN KEY (repository_id, workflow_run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE SET NULL (workflow_run_id),
    CONSTRAINT agent_sessions_workspace_fkey FOREIGN KEY (repository_id, workspace_id)
        REFERENCES jj_workspaces (repository_id, id) ON DELETE SET NULL (workspace_id)
);

CREATE INDEX agent_sessions_repository_id_created_at_idx ON agent_sessions (repository_id, created_at, id);
CREATE INDEX agent_sessions_user_id_idx ON agent_sessions (user_id, created_at, id) WHERE user_id IS NOT NULL;
CREATE INDEX agent_sessions_run_idx
    ON agent_sessions (repository_id, workflow_run_id) WHERE workflow_run_id IS NOT NULL;
CREATE INDEX agent_sessions_parent_session_id_idx
    ON agent_sessions (parent_session_id) WHERE parent_session_id IS NOT NULL;
CREATE INDEX agent_sessions_workspace_idx
    ON agent_sessions (repository_id, workspace_id) WHERE workspace_id IS NOT NULL;

CREATE TRIGGER agent_sessions_set_updated_at BEFORE UPDATE ON agent_sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER agent_sessions_state_transition BEFORE UPDATE OF state ON agent_sessions
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'active>completed', 'active>failed', 'active>cancelled');

COMMENT ON TABLE agent_sessions IS
    'A coding agent''s working session in a repository: which agent and model, for whom, inside which run and workspace, spawned by which session. Sessions (and with them their LLM usage and tool executions) outlive the run, workspace and account they referred to (SET NULL), so costs stay accounted.';
COMMENT ON COLUMN agent_sessions.user_id IS 'The account the agent acts as (an agent account or the person who started it).';
COMMENT ON COLUMN agent_sessions.parent_session_id IS 'Session that spawned this one (sub-agent genealogy).';
COMMENT ON COLUMN agent_sessions.agent IS 'Which agent (its name or kind).';
COMMENT ON COLUMN agent_sessions.goal IS 'The task the session was given.';
COMMENT ON COLUMN agent_sessions.summary IS 'What it did, written when it ends.';


CREATE TABLE llm_usage (
    id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id       bigint NOT NULL,
    agent_session_id    uuid,
    workflow_run_id     uuid,
    provider            text NOT NULL,
    model               text NOT NULL,
    input_tokens        bigint NOT NULL DEFAULT 0,
    output_tokens       bigint NOT NULL DEFAULT 0,
    cache_read_tokens   bigint NOT NULL DEFAULT 0,
    cache_write_tokens  bigint NOT NULL DEFAULT 0,
    cost                numeric(20, 10) NOT NULL DEFAULT 0,
    request_id          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT llm_usage_provider_check CHECK (char_length(provider) BETWEEN 1 AND 100 AND provider !~ '[[:cntrl:]]'),
    CONSTRAINT llm_usage_model_check CHECK (char_length(model) BETWEEN 1 AND 200 AND model !~ '[[:cntrl:]]'),
    CONSTRAINT llm_usage_tokens_check
        CHECK (input_tokens >= 0 AND output_tokens >= 0 AND cache_read_tokens >= 0 AND cache_write_tokens >= 0),
    CONSTRAINT llm_usage_cost_check CHECK (cost >= 0),
    CONSTRAINT llm_usage_request_id_check CHECK (char_length(request_id) BETWEEN 1 AND 255),
    CONSTRAINT llm_usage_owner_check CHECK (num_nonnulls(agent_session_id, workflow_run_id) >= 1),
    CONSTRAINT llm_usage_session_fkey FOREIGN KEY (repository_id, agent_session_id)
        REFERENCES agent_sessions (repository_id, id) ON DELETE CASCADE,
    CONSTRAINT llm_usage_run_fkey FOREIGN KEY (repository_id, workflow_run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX llm_usage_session_idx ON llm_usage (repository_id, agent_session_id, id) WHERE agent_session_id IS NOT NULL;
CREATE INDEX llm_usage_run_idx ON llm_usage (repository_id, workflow_run_id, id) WHERE workflow_run_id IS NOT NULL;
-- Cost reports per repository over time.
CREATE INDEX llm_usage_repository_id_created_at_idx ON llm_usage (repository_id, created_at);

CREATE TRIGGER llm_usage_refuse_update BEFORE UPDATE ON llm_usage
    FOR EACH ROW EXECUTE FUNCTION refuse_update();

COMMENT ON TABLE llm_usage IS
    'One row per LLM call of an agent session or run: model, token counts, cost. A ledger: append-only.';
COMMENT ON COLUMN llm_usage.cost IS 'Cost of the call in US dollars, computed by the caller from the provider''s price list.';
COMMENT ON COLUMN llm_usage.cache_read_tokens IS 'Input tokens served from the provider''s prompt cache.';
COMMENT ON COLUMN llm_usage.cache_write_tokens IS 'Input tokens written to the provider''s prompt cache.';
COMMENT ON COLUMN llm_usage.request_id IS 'The provider''s request id, for reconciliation.';


CREATE TABLE tool_executions (
    id                uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
    repository_id     bigint NOT NULL,
    agent_session_id  uuid NOT NULL,
    tool              text NOT NULL,
    arguments         jsonb NOT NULL DEFAULT '{}',
    output            text,
    status            text NOT NULL DEFAULT 'running',
    exit_code         integer,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    duration_ms       bigint GENERATED ALWAYS AS ((extract(epoch FROM finished_at - started_at) * 1000)::bigint) STORED,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tool_executions_tool_check CHECK (char_length(tool) BETWEEN 1 AND 200 AND tool !~ '[[:cntrl:][:space:]]'),
    CONSTRAINT tool_executions_arguments_check CHECK (octet_length(arguments::text) <= 1048576),
    CONSTRAINT tool_executions_output_check CHECK (char_length(output) <= 1048576),
    CONSTRAINT tool_executions_status_check
        CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    CONSTRAINT tool_executions_finished_check
        CHECK ((status = 'running') = (finished_at IS NULL) AND finished_at >= started_at),
    CONSTRAINT tool_executions_session_fkey FOREIGN KEY (repository_id, agent_session_id)
        REFERENCES agent_sessions (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX tool_executions_session_idx ON tool_executions (repository_id, agent_session_id, id);
CREATE INDEX tool_executions_tool_idx ON tool_executions (tool, created_at);

CREATE TRIGGER tool_executions_set_updated_at BEFORE UPDATE ON tool_executions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE tool_executions IS
    'Tool calls made by an agent session (shell, file edits, MCP tools...): arguments, output, status and duration.';
COMMENT ON COLUMN tool_executions.duration_ms IS 'Derived from started_at and finished_at.';
COMMENT ON COLUMN tool_executions.arguments IS 'Arguments the tool was called with.';
COMMENT ON COLUMN tool_executions.output IS 'What the tool returned (truncated by the caller to 1 MiB).';


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


-- 0009_jj_store
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


-- 0010_workflows_runs
--
-- Runs count their steps, so the statement that finishes the last step sees every earlier
-- finish through the run's row lock whatever its snapshot; steps carry the claim (lease,
-- fencing token), their runner labels, a count of unfinished dependencies (so the claimable
-- index holds only steps that may run now) and their retry policy.

ALTER TABLE workflow_runs
    ADD COLUMN steps_total integer NOT NULL DEFAULT 0,
    ADD COLUMN steps_succeeded integer NOT NULL DEFAULT 0,
    ADD COLUMN deadline_at timestamptz,
    ADD CONSTRAINT workflow_runs_steps_check
        CHECK (steps_total BETWEEN 0 AND 256 AND steps_succeeded BETWEEN 0 AND steps_total),
    ADD CONSTRAINT workflow_runs_deadline_check CHECK (deadline_at > created_at);

COMMENT ON COLUMN workflow_runs.steps_total IS 'Steps the run was started with.';
COMMENT ON COLUMN workflow_runs.steps_succeeded IS 'Steps that succeeded; the run succeeds when it reaches steps_total.';
COMMENT ON COLUMN workflow_runs.deadline_at IS 'When a run still unfinished times out (time_out_runs).';

-- Runs past their deadline, found without reading finished runs: a row per run while it can
-- still time out, in a table of its own so that no index of workflow_runs names its state.
CREATE TABLE workflow_run_deadlines (
    repository_id  bigint NOT NULL,
    run_id         uuid NOT NULL,
    deadline_at    timestamptz NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_run_deadlines_pkey PRIMARY KEY (repository_id, run_id),
    CONSTRAINT workflow_run_deadlines_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE INDEX workflow_run_deadlines_deadline_at_idx ON workflow_run_deadlines (deadline_at, run_id);

CREATE TRIGGER workflow_run_deadlines_set_updated_at BEFORE UPDATE ON workflow_run_deadlines
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE workflow_run_deadlines IS
    'The deadline of each run that can still time out: a row while the run is unfinished and has a deadline_at, kept by the triggers of workflow_runs; time_out reads it in deadline order. Apart so that no index of workflow_runs names its state.';

CREATE FUNCTION workflow_run_deadline_keep() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.finished_at IS NOT NULL OR NEW.deadline_at IS NULL THEN
        DELETE FROM workflow_run_deadlines
         WHERE repository_id = NEW.repository_id AND run_id = NEW.id;
    ELSE
        INSERT INTO workflow_run_deadlines (repository_id, run_id, deadline_at)
        VALUES (NEW.repository_id, NEW.id, NEW.deadline_at)
        ON CONFLICT (repository_id, run_id) DO UPDATE SET deadline_at = EXCLUDED.deadline_at;
    END IF;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION workflow_run_deadline_keep() IS
    'Trigger: keeps workflow_run_deadlines in step with workflow_runs: a row while the run is unfinished and has a deadline_at, with that deadline.';

CREATE TRIGGER workflow_runs_deadline_armed AFTER INSERT ON workflow_runs
    FOR EACH ROW WHEN (NEW.deadline_at IS NOT NULL AND NEW.finished_at IS NULL)
    EXECUTE FUNCTION workflow_run_deadline_keep();
-- Only what changes the row's deadline runs the function: a new deadline, or the end of a run
-- that had one (the other transitions of a run pay for this WHEN and nothing else).
CREATE TRIGGER workflow_runs_deadline_kept AFTER UPDATE OF state, deadline_at ON workflow_runs
    FOR EACH ROW WHEN (NEW.deadline_at IS DISTINCT FROM OLD.deadline_at
                       OR (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL
                           AND NEW.deadline_at IS NOT NULL))
    EXECUTE FUNCTION workflow_run_deadline_keep();

-- A queued run may time out before any runner took it.
DROP TRIGGER workflow_runs_state_transition ON workflow_runs;
CREATE TRIGGER workflow_runs_state_transition BEFORE UPDATE OF state ON workflow_runs
    FOR EACH ROW EXECUTE FUNCTION enforce_state_transition(
        'queued>running', 'queued>cancelled', 'queued>timed_out',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out',
        'running>queued');

-- A run that times out before a runner took it never started.
ALTER TABLE workflow_runs DROP CONSTRAINT workflow_runs_started_check;
ALTER TABLE workflow_runs ADD CONSTRAINT workflow_runs_started_check
    CHECK ((state = 'queued') = (started_at IS NULL) OR state IN ('cancelled', 'timed_out'));

ALTER TABLE workflow_steps
    ADD COLUMN labels text[] NOT NULL DEFAULT '{}',
    ADD COLUMN spec jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN blockers integer NOT NULL DEFAULT 0,
    ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN timeout_seconds integer NOT NULL DEFAULT 3600,
    ADD COLUMN retry_delay_seconds double precision NOT NULL DEFAULT 1,
    ADD COLUMN retry_max_delay_seconds double precision NOT NULL DEFAULT 300,
    ADD COLUMN claimed_by text,
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN fencing_token bigint,
    ADD CONSTRAINT workflow_steps_labels_check
        CHECK (cardinality(labels) <= 50
               AND array_position(labels, NULL) IS NULL
               AND array_to_string(labels, ',') ~ '^([A-Za-z0-9._:-]{1,64}(,[A-Za-z0-9._:-]{1,64})*)?$'),
    ADD CONSTRAINT workflow_steps_spec_check
        CHECK (jsonb_typeof(spec) = 'object' AND octet_length(spec::text) <= 65536),
    ADD CONSTRAINT workflow_steps_blockers_check CHECK (blockers BETWEEN 0 AND cardinality(depends_on)),
    ADD CONSTRAINT workflow_steps_timeout_seconds_check CHECK (timeout_seconds BETWEEN 1 AND 604800),
    ADD CONSTRAINT workflow_steps_retry_delay_check
        CHECK (retry_delay_seconds > 0 AND retry_max_delay_seconds >= retry_delay_seconds
               AND retry_max_delay_seconds <= 86400),
    ADD CONSTRAINT workflow_steps_claimed_by_check CHECK (char_length(claimed_by) BETWEEN 1 AND 255),
    -- A running step is held: by a worker, until its lease ends, with a fencing token.
    ADD CONSTRAINT workflow_steps_claim_check
        CHECK (state <> 'running'
               OR (claimed_by IS NOT NULL AND lease_expires_at IS NOT NULL AND fencing_token IS NOT NULL));

COMMENT ON COLUMN workflow_steps.labels IS 'Labels a runner must have (all of them) to take the step.';
COMMENT ON COLUMN workflow_steps.spec IS 'What the step does, as defined (command, environment...).';
COMMENT ON COLUMN workflow_steps.blockers IS 'Dependencies that have not succeeded yet; 0 means the step may run.';
COMMENT ON COLUMN workflow_steps.next_attempt_at IS 'Not claimed before: the backoff of a retry.';
COMMENT ON COLUMN workflow_steps.fencing_token IS 'From lease_fencing_tokens at each claim; every write of the claimant presents it.';

-- The claim reads this index in order and stops after a page: only steps that may run now.
CREATE INDEX workflow_steps_claimable_idx ON workflow_steps (next_attempt_at, id)
    WHERE state = 'pending' AND blockers = 0;
-- Expired leases, taken over by the claim.
CREATE INDEX workflow_steps_lease_idx ON workflow_steps (lease_expires_at) WHERE state = 'running';
-- A runner's steps in hand (capacity, heartbeats, reaping).
CREATE INDEX workflow_steps_running_runner_idx ON workflow_steps (runner_id) WHERE state = 'running';

CREATE FUNCTION workflow_retry_delay(p_attempt integer, p_base double precision,
                                     p_cap double precision, p_jitter double precision)
RETURNS interval
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT make_interval(secs => least(p_cap, p_base * power(2, greatest(p_attempt, 1) - 1))
                                 * (0.5 + 0.5 * least(greatest(p_jitter, 0), 1)))
$$;

COMMENT ON FUNCTION workflow_retry_delay(integer, double precision, double precision, double precision) IS
    'Backoff before retry p_attempt (1 = after the first failure): d = min(p_cap, p_base * 2^(p_attempt - 1)), then equal jitter: d/2 + p_jitter * d/2 with p_jitter in [0, 1] (random() in use).';

-- Log lines are numbered per run by a counter row that each append locks until it commits, so
-- lines become visible in number order: a reader tailing "after line n" never skips one.
CREATE TABLE workflow_log_counters (
    repository_id  bigint NOT NULL,
    run_id      uuid NOT NULL,
    lines       bigint NOT NULL DEFAULT 0,
    bytes       bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT workflow_log_counters_lines_check CHECK (lines BETWEEN 0 AND 10000000),
    CONSTRAINT workflow_log_counters_bytes_check CHECK (bytes BETWEEN 0 AND 67108864),
    CONSTRAINT workflow_log_counters_pkey PRIMARY KEY (repository_id, run_id),
    CONSTRAINT workflow_log_counters_run_fkey FOREIGN KEY (repository_id, run_id)
        REFERENCES workflow_runs (repository_id, id) ON DELETE CASCADE
);

CREATE TRIGGER workflow_log_counters_set_updated_at BEFORE UPDATE ON workflow_log_counters
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE workflow_log_counters IS
    'Per run: log lines numbered so far and their bytes (capped at 64 MiB). Apart from workflow_runs so that appending logs never locks the run row that claims and finishes lock.';

ALTER TABLE workflow_logs
    ADD COLUMN line bigint NOT NULL,
    ADD CONSTRAINT workflow_logs_line_check CHECK (line >= 1),
    ADD CONSTRAINT workflow_logs_run_line_key UNIQUE (run_id, line);

COMMENT ON COLUMN workflow_logs.line IS 'Line number within the run, from 1, in commit order (see workflow_log_counters).';

CREATE INDEX workflow_logs_step_line_idx ON workflow_logs (run_id, step_id, line) WHERE step_id IS NOT NULL;
-- Retention: the oldest lines first.
CREATE INDEX workflow_logs_created_at_idx ON workflow_logs (created_at);

ALTER TABLE llm_usage
    ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE RESTRICT,
    ADD COLUMN currency text NOT NULL DEFAULT 'USD',
    ADD CONSTRAINT llm_usage_currency_check CHECK (currency ~ '^[A-Z]{3}$');

COMMENT ON COLUMN llm_usage.user_id IS 'Whom the call is charged to: the session''s account, else the run''s trigger, else the recorder.';
COMMENT ON COLUMN llm_usage.currency IS 'ISO 4217 code of cost.';

CREATE INDEX llm_usage_user_id_idx ON llm_usage (user_id, created_at) WHERE user_id IS NOT NULL;

CREATE TABLE llm_budgets (
    repository_id  bigint PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    monthly_limit  numeric(20, 10) NOT NULL,
    currency       text NOT NULL DEFAULT 'USD',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT llm_budgets_monthly_limit_check CHECK (monthly_limit > 0),
    CONSTRAINT llm_budgets_currency_check CHECK (currency ~ '^[A-Z]{3}$')
);

CREATE TRIGGER llm_budgets_set_updated_at BEFORE UPDATE ON llm_budgets
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE llm_budgets IS 'A repository''s monthly LLM budget, in one currency.';

-- Tool output is size-capped JSON, like its arguments; a tool call may carry its own deadline.
ALTER TABLE tool_executions DROP CONSTRAINT tool_executions_output_check;
ALTER TABLE tool_executions ALTER COLUMN output TYPE jsonb USING to_jsonb(output);
ALTER TABLE tool_executions
    ADD COLUMN deadline_at timestamptz,
    ADD CONSTRAINT tool_executions_output_check CHECK (octet_length(output::text) <= 1048576),
    ADD CONSTRAINT tool_executions_deadline_check CHECK (deadline_at > started_at);

COMMENT ON COLUMN tool_executions.output IS 'What the tool returned, as JSON of at most 1 MiB.';
COMMENT ON COLUMN tool_executions.deadline_at IS 'A running call past it is timed out (time_out_tool_executions).';

CREATE INDEX tool_executions_deadline_idx ON tool_executions (deadline_at)
    WHERE status = 'running' AND deadline_at IS NOT NULL;

-- The hex digits two UUIDs share from the start: short ids grow past 8 digits only as far as
-- needed to tell a session from its neighbours.
CREATE FUNCTION uuid_common_prefix_length(a uuid, b uuid) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT coalesce(
        (SELECT min(i) - 1 FROM generate_series(1, 32) AS i
          WHERE substr(replace(a::text, '-', ''), i, 1) <> substr(replace(b::text, '-', ''), i, 1)),
        32)
$$;

COMMENT ON FUNCTION uuid_common_prefix_length(uuid, uuid) IS
    'How many leading hex digits (of 32) two UUIDs have in common.';


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

-- 0012_scale_colocation
-- Sharding readiness (docs/scaling.md): on Citus, distributed by repository_id, a key or a
-- foreign key of a repository-scoped table must include it. These tables had a key on id
-- alone, and these self- and child references left repository_id out (a parent session of
-- another repository was allowed; now it must be the same repository's). A run's parent stays
-- a reference by id: a run may start runs in other repositories (docs/scaling.md).
ALTER TABLE commit_status_history
    ADD CONSTRAINT commit_status_history_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE jj_workspace_transitions
    ADD CONSTRAINT jj_workspace_transitions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE landing_events
    ADD CONSTRAINT landing_events_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE llm_usage ADD CONSTRAINT llm_usage_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE notifications
    ADD CONSTRAINT notifications_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE reactions ADD CONSTRAINT reactions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE repository_redirects
    ADD CONSTRAINT repository_redirects_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE snapshot_history
    ADD CONSTRAINT snapshot_history_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE workflow_logs
    ADD CONSTRAINT workflow_logs_repository_id_id_key UNIQUE (repository_id, id);
ALTER TABLE workflow_steps
    ADD CONSTRAINT workflow_steps_repository_id_run_id_id_key UNIQUE (repository_id, run_id, id);

ALTER TABLE agent_sessions DROP CONSTRAINT agent_sessions_parent_session_id_fkey;
ALTER TABLE agent_sessions ADD CONSTRAINT agent_sessions_parent_session_id_fkey
    FOREIGN KEY (repository_id, parent_session_id) REFERENCES agent_sessions (repository_id, id)
    ON DELETE SET NULL (parent_session_id);
ALTER TABLE workflow_logs DROP CONSTRAINT workflow_logs_step_fkey;
ALTER TABLE workflow_logs ADD CONSTRAINT workflow_logs_step_fkey
    FOREIGN KEY (repository_id, run_id, step_id)
    REFERENCES workflow_steps (repository_id, run_id, id) ON DELETE CASCADE;
-- The indexes behind those foreign keys lead with repository_id too.
DROP INDEX agent_sessions_parent_session_id_idx;
CREATE INDEX agent_sessions_parent_session_id_idx ON agent_sessions (repository_id, parent_session_id)
    WHERE parent_session_id IS NOT NULL;
DROP INDEX workflow_logs_step_idx;
CREATE INDEX workflow_logs_step_idx ON workflow_logs (repository_id, run_id, step_id, id)
    WHERE step_id IS NOT NULL;

-- 0013_landing_shared_readiness
-- One definition of the merge rules. landing_readiness and pull_request_readiness (0008) each
-- spelled out the protection rules of a ref, the passing required contexts of a commit and the
-- final verdict, and db.repositories.statuses.combined read the required contexts a third
-- time. These functions hold each rule once; the two readiness functions keep their
-- signatures and differ only in how they tally their own reviews and conflicts.

CREATE FUNCTION protection_requirements(p_repository_id bigint, p_ref text)
RETURNS TABLE (protected boolean, required_approvals integer, required_contexts text[])
LANGUAGE sql STABLE
AS $$
    SELECT count(*) > 0,
           coalesce(max(p.required_approvals), 0)::integer,
           ARRAY(SELECT DISTINCT c
                   FROM protected_branches p2, unnest(p2.required_status_contexts) AS c
                  WHERE p2.repository_id = p_repository_id
                    AND branch_pattern_matches(p2.pattern, p_ref)
                  ORDER BY c)
      FROM protected_branches p
     WHERE p.repository_id = p_repository_id AND branch_pattern_matches(p.pattern, p_ref)
$$;

COMMENT ON FUNCTION protection_requirements(bigint, text) IS
    'What the protection rules matching ref p_ref require, merged: whether any rule matches, the most approvals any requires, and every status context any requires (sorted, distinct). A NULL ref matches no rule.';

-- commit_statuses holds the latest report per (repository, commit, context), so a context
-- passes when its one row says success.
CREATE FUNCTION passing_contexts(p_repository_id bigint, p_commit_id text, p_contexts text[])
RETURNS text[]
LANGUAGE sql STABLE
AS $$
    SELECT ARRAY(SELECT s.context
                   FROM commit_statuses s
                  WHERE s.repository_id = p_repository_id AND s.commit_id = p_commit_id
                    AND s.context = ANY (p_contexts) AND s.state = 'success'
                  ORDER BY s.context)
$$;

COMMENT ON FUNCTION passing_contexts(bigint, text, text[]) IS
    'The contexts among p_contexts whose latest status on commit p_commit_id is success, sorted.';

CREATE FUNCTION merge_readiness(p_repository_id bigint, p_ref text, p_commit_id text,
                                p_approvals integer, p_stale_approvals integer,
                                p_changes_requested integer, p_unresolved_conflicts integer)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE sql STABLE
AS $$
    SELECT r.protected, r.required_approvals, p_approvals, p_stale_approvals,
           p_changes_requested, r.required_contexts, s.passing, p_unresolved_conflicts,
           p_unresolved_conflicts = 0
           AND (NOT r.protected
                OR (p_approvals >= r.required_approvals
                    AND (r.required_approvals = 0 OR p_changes_requested = 0)
                    AND r.required_contexts <@ s.passing))
      FROM protection_requirements(p_repository_id, p_ref) r,
           LATERAL (SELECT passing_contexts(p_repository_id, p_commit_id, r.required_contexts)
                           AS passing) s
$$;

COMMENT ON FUNCTION merge_readiness(bigint, text, text, integer, integer, integer, integer) IS
    'The verdict of the protection rules of ref p_ref on commit p_commit_id, given the tallied current approvals, stale approvals, changes requested and unresolved conflicts: ready when nothing conflicts and, on a protected ref, the approvals reach the most any rule requires, nobody requests changes (when approvals are required) and every required context passes.';

-- The latest non-dismissed review of each reviewer counts; an approval counts only for the
-- commit it was given on (one of an older commit is stale). A change with an unresolved
-- conflict is never ready.
CREATE OR REPLACE FUNCTION landing_readiness(p_repository_id bigint, p_landing_id bigint)
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
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, l
             WHERE c.repository_id = l.repository_id AND c.change_id = l.change_id
               AND c.resolved_at IS NULL
        )
        SELECT m.*
          FROM l, tally, open_conflicts,
               merge_readiness(l.repository_id, l.target_bookmark, l.commit_id, tally.approvals,
                               tally.stale, tally.changes, open_conflicts.n) m;
END
$$;

-- The same rules for a pull request: the protection rules of its base branch, the latest
-- submitted, non-dismissed review of each reviewer (drafts never count), statuses and
-- unresolved conflicts of its head commit.
CREATE OR REPLACE FUNCTION pull_request_readiness(p_repository_id bigint, p_pull_request_id bigint)
RETURNS TABLE (protected boolean, required_approvals integer, approvals integer,
               stale_approvals integer, changes_requested integer, required_contexts text[],
               passing_contexts text[], unresolved_conflicts integer, ready boolean)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        WITH pr AS (
            SELECT p.repository_id, p.id, p.head_commit_id, p.base_ref
              FROM pull_requests p
             WHERE p.repository_id = p_repository_id AND p.id = p_pull_request_id
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
        ), open_conflicts AS (
            SELECT count(*)::integer AS n
              FROM conflicts c, pr
             WHERE c.repository_id = pr.repository_id AND c.commit_id = pr.head_commit_id
               AND c.resolved_at IS NULL
        )
        SELECT m.*
          FROM pr, tally, open_conflicts,
               merge_readiness(pr.repository_id, pr.base_ref, pr.head_commit_id, tally.approvals,
                               tally.stale, tally.changes, open_conflicts.n) m;
END
$$;

-- 0014_jj_snapshots
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

-- 0015_coordination_waiters
-- The event bus notifies only when a consumer waits. A transaction that sends NOTIFY holds a
-- cluster-wide lock from its pre-commit through its commit record's flush, so publishers that
-- all notified committed one at a time (no group commit); now a publish notifies a
-- subscription only while one of its consumers is registered as waiting, and takes that
-- registration, so the next publishes do not notify until a consumer waits again.

-- Registrations live in memory and on local disk only: they outlive no crash (nobody waits
-- after one), and registering writes no WAL, so it costs no commit flush.
CREATE UNLOGGED TABLE event_waiters (
    subscription_id  bigint NOT NULL,
    backend_pid      integer NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, backend_pid)
);

CREATE TRIGGER event_waiters_set_updated_at BEFORE UPDATE ON event_waiters
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

COMMENT ON TABLE event_waiters IS
    'Consumers blocked in events.wait (LISTEN forge_db_events), one row per subscription and backend, registered under the exclusive advisory lock (1701147252, subscription id) that orders them against publishers (events_fan_out). A publish that finds a live row notifies the subscription and deletes the rows it could lock. Unlogged, without a foreign key (a key lock on the subscription would be logged): a row of a deleted subscription or of a waiter that died only lets a publish notify until expires_at.';
COMMENT ON COLUMN event_waiters.backend_pid IS 'The waiting session''s server process (pg_backend_pid()).';
COMMENT ON COLUMN event_waiters.expires_at IS 'When the wait ends at the latest; later the row no longer counts.';

CREATE OR REPLACE FUNCTION events_fan_out() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    v_subscriptions bigint[];
    v_subscription bigint;
BEGIN
    WITH queued AS (
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
    )
    SELECT array_agg(subscription_id) INTO v_subscriptions FROM queued;
    IF v_subscriptions IS NULL THEN
        RETURN NULL;
    END IF;
    -- Held until this transaction ends; a waiter registers under the exclusive lock. So either
    -- the waiter registered first, and the next statement (a new snapshot, under read
    -- committed) sees it, or the waiter registers after this transaction ended and its first
    -- look finds these deliveries.
    PERFORM pg_advisory_xact_lock_shared(1701147252, (s % 2147483648)::integer)
       FROM unnest(v_subscriptions) AS s;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- One snapshot for the whole transaction, older than the lock: a registration made
        -- meanwhile is not seen, so every subscription is told.
        FOR v_subscription IN SELECT DISTINCT s FROM unnest(v_subscriptions) AS s LOOP
            PERFORM pg_notify('forge_db_events', v_subscription::text);
        END LOOP;
        RETURN NULL;
    END IF;
    -- A live row is told about, whether or not this publish takes it: a row another publish
    -- has locked may come back if that publish rolls back.
    FOR v_subscription IN
        WITH live AS (
            SELECT w.subscription_id, w.backend_pid
              FROM event_waiters AS w
             WHERE w.subscription_id = ANY (v_subscriptions)
               AND w.expires_at > clock_timestamp()
        ), taken AS (
            SELECT w.subscription_id, w.backend_pid
              FROM event_waiters AS w JOIN live USING (subscription_id, backend_pid)
               FOR UPDATE OF w SKIP LOCKED
        ), cleared AS (
            DELETE FROM event_waiters AS w USING taken
             WHERE (w.subscription_id, w.backend_pid) = (taken.subscription_id, taken.backend_pid)
        )
        SELECT DISTINCT subscription_id FROM live
    LOOP
        PERFORM pg_notify('forge_db_events', v_subscription::text);
    END LOOP;
    RETURN NULL;
END
$$;

COMMENT ON FUNCTION events_fan_out() IS
    'AFTER INSERT row trigger on events: queues a delivery for every active subscription whose topic pattern, repository and source filter match, and notifies channel forge_db_events with the subscription id when a consumer of it waits (a live event_waiters row, taken by the publish) or the publisher''s snapshot is older than its lock (repeatable read, serializable).';

-- 0016_workflows_tool_pending
-- A tool call may be recorded before it starts (awaiting approval, queued behind another
-- call): it is 'pending', with no start time, until it starts ('running', the clock starts)
-- or is declined ('cancelled') or waits past its deadline ('timed_out'). The database's state
-- machine allows only these moves. The column is 'status' (the seed's name): the rule of
-- enforce_state_transition moves into refuse_transition, which both trigger functions call
-- with their column, so one definition serves every state machine.
CREATE FUNCTION refuse_transition(p_table text, p_column text, p_from text, p_to text,
                                  p_allowed text[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF p_to IS DISTINCT FROM p_from AND NOT (p_from || '>' || p_to) = ANY (p_allowed) THEN
        RAISE EXCEPTION '%: % cannot change from % to %', p_table, p_column, p_from, p_to
            USING ERRCODE = 'FDC01', TABLE = p_table, COLUMN = p_column,
                  CONSTRAINT = p_table || '_' || p_column || '_transition';
    END IF;
END
$$;

COMMENT ON FUNCTION refuse_transition(text, text, text, text, text[]) IS
    'Raises FDC01 when column p_column of table p_table changes from p_from to p_to and ''from>to'' is not among p_allowed; an unchanged value always passes.';

CREATE OR REPLACE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'state', OLD.state, NEW.state, TG_ARGV);
    RETURN NEW;
END
$$;

CREATE FUNCTION enforce_status_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'status', OLD.status, NEW.status, TG_ARGV);
    RETURN NEW;
END
$$;

COMMENT ON FUNCTION enforce_status_transition() IS
    'BEFORE UPDATE OF status row trigger, as enforce_state_transition for a column named status; its arguments list the allowed transitions as ''from>to''. Refusal raises FDC01.';

ALTER TABLE tool_executions ALTER COLUMN started_at DROP NOT NULL;
ALTER TABLE tool_executions
    DROP CONSTRAINT tool_executions_status_check,
    DROP CONSTRAINT tool_executions_finished_check;
ALTER TABLE tool_executions
    ADD CONSTRAINT tool_executions_status_check
        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out')),
    ADD CONSTRAINT tool_executions_finished_check
        CHECK ((status IN ('pending', 'running')) = (finished_at IS NULL) AND finished_at >= started_at),
    -- A call that never started (declined, or timed out waiting) has no start time.
    ADD CONSTRAINT tool_executions_started_check
        CHECK (CASE WHEN status = 'pending' THEN started_at IS NULL
                    WHEN status IN ('cancelled', 'timed_out') THEN true
                    ELSE started_at IS NOT NULL END);

CREATE TRIGGER tool_executions_status_transition BEFORE UPDATE OF status ON tool_executions
    FOR EACH ROW EXECUTE FUNCTION enforce_status_transition(
        'pending>running', 'pending>cancelled', 'pending>timed_out',
        'running>succeeded', 'running>failed', 'running>cancelled', 'running>timed_out');

COMMENT ON COLUMN tool_executions.started_at IS 'When the call started running; NULL while pending, and for a call that never started.';
COMMENT ON COLUMN tool_executions.deadline_at IS 'A pending or running call past it is timed out (db.workflows.tools.time_out); starting a pending call sets it anew.';

-- Pending calls time out too (an approval that never came).
DROP INDEX tool_executions_deadline_idx;
CREATE INDEX tool_executions_deadline_idx ON tool_executions (deadline_at)
    WHERE status IN ('pending', 'running') AND deadline_at IS NOT NULL;
-- A session's calls in the order they were recorded (pending ones have no start time).
CREATE INDEX tool_executions_session_created_idx
    ON tool_executions (repository_id, agent_session_id, created_at, id);

-- 0017_cheaper_transition_checks
-- The state-machine triggers run on every claim and finish of a step, a run, a batch or a
-- delivery. Their PERFORM refuse_transition(...) ran a query through SPI on every update,
-- refused or not: about 0.1 ms each, four times for each workflow step claimed and finished.
-- The rule moves into transition_allowed, an immutable SQL expression that PL/pgSQL evaluates
-- inline (its simple-expression path); the triggers call refuse_transition only to raise.
CREATE FUNCTION transition_allowed(p_from text, p_to text, p_allowed text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN p_to IS NOT DISTINCT FROM p_from OR (p_from || '>' || p_to) = ANY (p_allowed);

COMMENT ON FUNCTION transition_allowed(text, text, text[]) IS
    'The rule of every state machine: a value may stay as it is, or change from p_from to p_to when ''from>to'' is among p_allowed.';

CREATE OR REPLACE FUNCTION refuse_transition(p_table text, p_column text, p_from text,
                                             p_to text, p_allowed text[]) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT transition_allowed(p_from, p_to, p_allowed) THEN
        RAISE EXCEPTION '%: % cannot change from % to %', p_table, p_column, p_from, p_to
            USING ERRCODE = 'FDC01', TABLE = p_table, COLUMN = p_column,
                  CONSTRAINT = p_table || '_' || p_column || '_transition';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT transition_allowed(OLD.state, NEW.state, TG_ARGV) THEN
        PERFORM refuse_transition(TG_TABLE_NAME, 'state', OLD.state, NEW.state, TG_ARGV);
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION enforce_status_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NOT transition_allowed(OLD.status, NEW.status, TG_ARGV) THEN
        PERFORM refuse_transition(TG_TABLE_NAME, 'status', OLD.status, NEW.status, TG_ARGV);
    END IF;
    RETURN NEW;
END
$$;
