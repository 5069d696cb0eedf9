-- The forum's hot queries, as its application sends them.

-- name: profile
-- params: SELECT upper(username) FROM social.users ORDER BY md5(username) LIMIT 100
SELECT id, username, created_at
  FROM social.users
 WHERE lower(username) = lower($1) AND deleted_at IS NULL;

-- name: sign_in
-- One field takes an email or a username.
-- params: SELECT CASE WHEN id % 2 = 0 THEN email ELSE username END FROM social.users ORDER BY md5(email) LIMIT 100
SELECT id, username
  FROM social.users
 WHERE email = $1 OR lower(username) = lower($1);

-- name: feed
-- params: SELECT id FROM social.users ORDER BY md5(id::text) LIMIT 100
SELECT p.id, p.title, p.author_id, p.created_at
  FROM social.posts p
 WHERE p.author_id IN (SELECT f.followee_id FROM social.follows f WHERE f.follower_id = $1)
   AND p.deleted_at IS NULL
 ORDER BY p.created_at DESC
 LIMIT 20;

-- name: post_comments
-- params: SELECT id FROM social.posts ORDER BY md5(id::text) LIMIT 100
SELECT id, author_id, parent_id, body, created_at
  FROM social.comments
 WHERE post_id = $1
 ORDER BY created_at
 LIMIT 50;

-- name: replies
-- params: SELECT id FROM social.comments WHERE parent_id IS NULL ORDER BY md5(id::text) LIMIT 100
SELECT id, author_id, body
  FROM social.comments
 WHERE parent_id = $1;

-- name: unread_count
-- params: SELECT id FROM social.users ORDER BY md5(id::text || 'n') LIMIT 100
SELECT count(*)
  FROM social.notifications
 WHERE user_id = $1 AND read_at IS NULL;

-- name: recent_notifications
-- params: SELECT id FROM social.users ORDER BY md5(id::text || 'r') LIMIT 100
SELECT id, kind, read_at, created_at
  FROM social.notifications
 WHERE user_id = $1
 ORDER BY created_at DESC
 LIMIT 20;

-- name: community_hot
-- A community's best posts of the day.
-- params: SELECT g FROM generate_series(1, 500) g ORDER BY md5(g::text) LIMIT 100
SELECT id, title, score
  FROM social.posts
 WHERE community_id = $1 AND created_at > now() - interval '1 day'
 ORDER BY score DESC
 LIMIT 25;

-- name: followers
-- params: SELECT g FROM generate_series(1, 200000, 997) g
SELECT follower_id, created_at
  FROM social.follows
 WHERE followee_id = $1
 ORDER BY created_at DESC
 LIMIT 50;

-- name: user_comments
-- A profile's comment tab, the user named in the URL.
-- params: SELECT username FROM social.users ORDER BY md5(username || 'c') LIMIT 100
SELECT id, post_id, created_at
  FROM social.comments
 WHERE author_id = (SELECT id FROM social.users WHERE lower(username) = lower($1))
 ORDER BY created_at DESC
 LIMIT 20;
