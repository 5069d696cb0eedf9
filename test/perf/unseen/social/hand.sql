-- The forum's indexes, written by hand for workload.sql (before advise was run on it).

-- profile, sign_in and user_comments look a username up whatever its case.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_username_lower ON social.users (lower(username));

-- feed: each followed author's newest posts.
CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_author_created ON social.posts (author_id, created_at DESC);

-- post_comments: a post's thread in order.
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_post_created ON social.comments (post_id, created_at);

-- replies: only answers have a parent.
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_parent ON social.comments (parent_id) WHERE parent_id IS NOT NULL;

-- recent_notifications and unread_count: a user has a handful, newest first.
CREATE INDEX CONCURRENTLY IF NOT EXISTS notifications_user_created ON social.notifications (user_id, created_at DESC);

-- community_hot: one community's last day.
CREATE INDEX CONCURRENTLY IF NOT EXISTS posts_community_created ON social.posts (community_id, created_at);

-- followers: the other side of the primary key.
CREATE INDEX CONCURRENTLY IF NOT EXISTS follows_followee ON social.follows (followee_id, created_at DESC);

-- user_comments: one author's newest comments.
CREATE INDEX CONCURRENTLY IF NOT EXISTS comments_author_created ON social.comments (author_id, created_at DESC);
