-- +goose Up
-- Who a contact is (issue #15, "Whom to call"): name, job title and
-- e-mail, kept only while the person's consent to show them to reps is
-- recorded (identity_consent, with where it was given and when Dowser
-- recorded it). The trigger holds that rule for every writer: a row
-- without consent keeps no identity, so withdrawing consent deletes it
-- rather than hiding it. What reps are shown is decided at read time
-- (--contact-identity, do-not-track); see docs/privacy.md.
ALTER TABLE contacts
    ADD COLUMN name                    text NOT NULL DEFAULT '',
    ADD COLUMN title                   text NOT NULL DEFAULT '',
    ADD COLUMN email                   text NOT NULL DEFAULT '',
    ADD COLUMN identity_consent        boolean NOT NULL DEFAULT false,
    ADD COLUMN identity_consent_source text NOT NULL DEFAULT '',
    ADD COLUMN identity_consent_at     timestamptz;

-- +goose StatementBegin
CREATE FUNCTION contact_identity_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.identity_consent THEN
        NEW.name := '';
        NEW.title := '';
        NEW.email := '';
        NEW.identity_consent_source := '';
        NEW.identity_consent_at := NULL;
    ELSIF TG_OP = 'INSERT' OR NOT OLD.identity_consent THEN
        NEW.identity_consent_at := now();
    ELSE
        NEW.identity_consent_at := OLD.identity_consent_at;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER contacts_identity_consent BEFORE INSERT OR UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION contact_identity_consent();

-- +goose Down
DROP TRIGGER contacts_identity_consent ON contacts;
DROP FUNCTION contact_identity_consent();
ALTER TABLE contacts DROP COLUMN identity_consent_at, DROP COLUMN identity_consent_source,
    DROP COLUMN identity_consent, DROP COLUMN email, DROP COLUMN title, DROP COLUMN name;
