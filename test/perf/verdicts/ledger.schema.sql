-- Ledgers with wide and narrower rows: a covering index helps range sums by a modest factor that
-- shrinks as the range widens and the rows narrow (the modest changes of the A/B harness). The
-- harness sets random_page_cost = 1.1 on this database (SSD-like), as many production servers do.
CREATE TABLE ledger (id bigserial PRIMARY KEY, "postedOn" int NOT NULL, amount int NOT NULL, memo text NOT NULL);
INSERT INTO ledger ("postedOn", amount, memo) SELECT g, g % 1000, repeat(md5(g::text), 6) FROM generate_series(1, 300000) g;
CREATE TABLE ledger_narrow (id bigserial PRIMARY KEY, "postedOn" int NOT NULL, amount int NOT NULL, memo text NOT NULL);
INSERT INTO ledger_narrow ("postedOn", amount, memo) SELECT g, g % 1000, repeat(md5(g::text), 2) FROM generate_series(1, 300000) g;
