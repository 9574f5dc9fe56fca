-- Logins and username checks look users up case-insensitively.
CREATE INDEX users_lower_user_id ON users (lower(user_id));
