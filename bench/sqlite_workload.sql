-- Builds and indexes a 200k-row in-memory table: sqlite3's page cache, B-trees and
-- string handling all allocate through malloc.
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL, tag TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t SELECT x, printf('name-%d-%s', x, hex(randomblob(8))), x * 0.5, printf('tag%d', x % 977) FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_tag ON t(tag, value);
SELECT count(*), sum(length(name)) FROM t WHERE tag LIKE 'tag1%';
