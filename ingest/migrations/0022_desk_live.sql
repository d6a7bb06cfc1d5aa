-- Live desk pages: when an alert's current state or its actions change, notify channel
-- 'ioc_desk' with the alert, its camera's district and what changed. NOTIFY is delivered at
-- commit, so a page hears of a row exactly when it is in the database.

CREATE FUNCTION desk_notify_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ioc_desk', json_build_object(
        'alert_id', NEW.alert_id,
        'camera_id', NEW.camera_id,
        'district', (SELECT district FROM cameras WHERE camera_id = NEW.camera_id),
        'table', TG_TABLE_NAME)::text);
    RETURN NULL;
END $$;

CREATE TRIGGER desk_alerts_changed AFTER INSERT OR UPDATE ON alerts
    FOR EACH ROW EXECUTE FUNCTION desk_notify_alert();
CREATE TRIGGER desk_alert_actions_added AFTER INSERT ON alert_actions
    FOR EACH ROW EXECUTE FUNCTION desk_notify_alert();
CREATE TRIGGER desk_outbox_changed AFTER INSERT OR UPDATE ON desk_outbox
    FOR EACH ROW EXECUTE FUNCTION desk_notify_alert();
