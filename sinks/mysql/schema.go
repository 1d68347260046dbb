package mysql

import (
	"context"
	"fmt"
)

// maxPathLen is the longest path stored, in characters: paths.path is in
// the primary key, and InnoDB keys hold at most 3072 bytes (2 for depth,
// then 767 utf8mb4 characters of 4 bytes). Longer paths are dropped and
// counted.
const maxPathLen = 767

// tables are the sink's table names, prefixed.
type tables struct {
	paths, points string
}

func newTables(prefix string) tables {
	return tables{paths: prefix + "paths", points: prefix + "points"}
}

// ddl are the CREATE TABLE statements (documented in the package doc).
func (t tables) ddl() []string {
	return []string{
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s` (\n"+
			"  `depth`  SMALLINT UNSIGNED NOT NULL,\n"+
			"  `path`   VARCHAR(%d) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,\n"+
			"  `id`     BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,\n"+
			"  `leaf`   TINYINT UNSIGNED NOT NULL,\n"+
			"  `branch` TINYINT UNSIGNED NOT NULL,\n"+
			"  PRIMARY KEY (`depth`, `path`),\n"+
			"  UNIQUE KEY `id` (`id`)\n"+
			") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin", t.paths, maxPathLen),
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s` (\n"+
			"  `path_id`    BIGINT UNSIGNED NOT NULL,\n"+
			"  `resolution` INT UNSIGNED NOT NULL,\n"+
			"  `start`      BIGINT NOT NULL,\n"+
			"  `count`      BIGINT NOT NULL,\n"+
			"  `sum`        DOUBLE NOT NULL,\n"+
			"  `min`        DOUBLE NOT NULL,\n"+
			"  `max`        DOUBLE NOT NULL,\n"+
			"  `last`       DOUBLE NOT NULL,\n"+
			"  PRIMARY KEY (`path_id`, `resolution`, `start`),\n"+
			"  KEY `expiry` (`resolution`, `start`)\n"+
			") ENGINE=InnoDB", t.points),
	}
}

// createSchema creates the tables if they are missing; running it again
// changes nothing.
func (s *store) createSchema(ctx context.Context) error {
	for _, stmt := range s.tables.ddl() {
		if _, err := s.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("failed to create the sink's tables (%s, %s): %w", s.tables.paths, s.tables.points, err)
		}
	}
	return nil
}
