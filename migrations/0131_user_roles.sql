-- Roles besides server admin (users.is_admin): 'moderator' may use the admin
-- API's moderation endpoints (account locking and suspension, reports).
CREATE TABLE user_roles (
  user_id text NOT NULL,
  role text NOT NULL,
  PRIMARY KEY (user_id, role)
);
