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
