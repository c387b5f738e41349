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
