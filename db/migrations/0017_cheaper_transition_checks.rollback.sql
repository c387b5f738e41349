-- Back to 0016's bodies: the rule inside refuse_transition, which each trigger performs.
CREATE OR REPLACE FUNCTION refuse_transition(p_table text, p_column text, p_from text, p_to text,
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

CREATE OR REPLACE FUNCTION enforce_state_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'state', OLD.state, NEW.state, TG_ARGV);
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION enforce_status_transition() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM refuse_transition(TG_TABLE_NAME, 'status', OLD.status, NEW.status, TG_ARGV);
    RETURN NEW;
END
$$;

DROP FUNCTION transition_allowed(text, text, text[]);
