-- A forum: users who follow each other, posts in communities, threaded comments, notifications.
CREATE SCHEMA social;
CREATE TABLE social.users (
  id int PRIMARY KEY,
  username text NOT NULL,
  email text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz
);
CREATE TABLE social.follows (
  follower_id int NOT NULL,
  followee_id int NOT NULL,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (follower_id, followee_id)
);
CREATE TABLE social.posts (
  id bigint PRIMARY KEY,
  author_id int NOT NULL,
  community_id int NOT NULL,
  title text NOT NULL,
  body text NOT NULL,
  score int NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz
);
CREATE TABLE social.comments (
  id bigint PRIMARY KEY,
  post_id bigint NOT NULL,
  author_id int NOT NULL,
  parent_id bigint,
  body text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE social.notifications (
  id bigint PRIMARY KEY,
  user_id int NOT NULL,
  kind text NOT NULL,
  read_at timestamptz,
  created_at timestamptz NOT NULL
);

-- Usernames keep the case their owner typed; sign-in ignores it.
INSERT INTO social.users
SELECT g, CASE WHEN g % 3 = 0 THEN 'User_' ELSE 'user_' END || g, 'u' || g || '@forum.example',
       now() - (200000 - g) * interval '150 seconds', CASE WHEN g % 50 = 0 THEN now() ELSE NULL END
  FROM generate_series(1, 200000) g;

-- Ten follows a user; a quarter of them go to the thousand most followed.
INSERT INTO social.follows
SELECT 1 + (g - 1) / 10, CASE WHEN g % 4 = 0 THEN 1 + g % 1000 ELSE 1 + (g::bigint * 7919 % 200000)::int END,
       now() - (2000000 - g) * interval '15 seconds'
  FROM generate_series(1, 2000000) g
ON CONFLICT DO NOTHING;

INSERT INTO social.posts
SELECT g, 1 + (g::bigint * 7919 % 200000)::int, 1 + (g % 500)::int, 'post ' || g, repeat('lorem ipsum ', 10),
       (g * 37 % 1000)::int, now() - (1000000 - g) * interval '30 seconds', CASE WHEN g % 100 = 0 THEN now() ELSE NULL END
  FROM generate_series(1, 1000000) g;

-- Three comments a post, written in the hour after it; the second and third answer the first.
INSERT INTO social.comments
SELECT g, p, 1 + (g::bigint * 31 % 200000)::int, CASE WHEN k = 0 THEN NULL ELSE g - k END, 'a comment ' || g,
       now() - (1000000 - p) * interval '30 seconds' + (k + 1) * interval '20 minutes'
  FROM generate_series(1, 3000000) g,
       LATERAL (SELECT 1 + (g - 1) / 3 AS p, (g - 1) % 3 AS k) x;

-- The newest tenth are unread.
INSERT INTO social.notifications
SELECT g, 1 + (g::bigint * 7919 % 200000)::int, (ARRAY['reply', 'mention', 'follow', 'vote'])[1 + (g % 4)::int],
       CASE WHEN g > 1350000 THEN NULL ELSE now() - (1500000 - g) * interval '20 seconds' + interval '1 hour' END,
       now() - (1500000 - g) * interval '20 seconds'
  FROM generate_series(1, 1500000) g;
-- The foreign keys, added once the rows are in (one validation each instead of a check per row).
ALTER TABLE social.follows ADD FOREIGN KEY (follower_id) REFERENCES social.users, ADD FOREIGN KEY (followee_id) REFERENCES social.users;
ALTER TABLE social.posts ADD FOREIGN KEY (author_id) REFERENCES social.users;
ALTER TABLE social.comments ADD FOREIGN KEY (post_id) REFERENCES social.posts, ADD FOREIGN KEY (author_id) REFERENCES social.users,
  ADD FOREIGN KEY (parent_id) REFERENCES social.comments;
ALTER TABLE social.notifications ADD FOREIGN KEY (user_id) REFERENCES social.users;
ANALYZE;
