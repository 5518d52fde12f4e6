DROP TABLE login_throttles;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP FUNCTION set_updated_at();
