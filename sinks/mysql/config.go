package mysql

import (
	"fmt"
	"time"

	driver "github.com/go-sql-driver/mysql"

	"ringrelay/config"
)

// maxTablePrefix keeps prefix + "points" within MySQL's 64-character
// identifiers, with room to spare.
const maxTablePrefix = 48

// Config is the mysql kind's own keys of a [sinks.NAME] section.
type Config struct {
	// DSN is the go-sql-driver/mysql data source name, e.g.
	// "relay:secret@tcp(db.example:3306)/metrics" or
	// "relay@unix(/run/mysqld/mysqld.sock)/metrics". The database must
	// exist; the sink creates its tables. Required.
	DSN string `toml:"dsn"`
	// MaxOpenConns bounds the connections to the database: one writer
	// (the sink's queue writes one batch at a time), the retention job
	// and the read API's queries share them.
	MaxOpenConns int `toml:"max_open_conns"`
	// RetentionInterval is how often rows older than their resolution's
	// retention are deleted.
	RetentionInterval config.Duration `toml:"retention_interval"`
	// TablePrefix is put in front of the table names ("paths", "points"),
	// so that several sinks (or relays) can share a database.
	TablePrefix string `toml:"table_prefix"`
}

// DefaultConfig returns the defaults: no DSN (it is required), 4
// connections, a retention pass every 10 minutes, tables ringrelay_paths
// and ringrelay_points.
func DefaultConfig() Config {
	return Config{
		MaxOpenConns:      4,
		RetentionInterval: config.Duration{Duration: 10 * time.Minute},
		TablePrefix:       "ringrelay_",
	}
}

// Validate reports the first setting that cannot work; the error starts
// with the key's name. It never repeats the DSN, which may hold a
// password.
func (c Config) Validate() error {
	if c.DSN == "" {
		return fmt.Errorf("dsn: required (e.g. \"user:password@tcp(host:3306)/database\")")
	}
	dc, err := driver.ParseDSN(c.DSN)
	if err != nil {
		return fmt.Errorf("dsn: %w", err)
	}
	if dc.DBName == "" {
		return fmt.Errorf("dsn: names no database (it goes after the \"/\")")
	}
	if c.MaxOpenConns < 1 {
		return fmt.Errorf("max_open_conns %d: must be at least 1", c.MaxOpenConns)
	}
	if d := c.RetentionInterval.Duration; d < time.Second {
		return fmt.Errorf("retention_interval %q: must be at least 1s", d)
	}
	if err := checkTablePrefix(c.TablePrefix); err != nil {
		return fmt.Errorf("table_prefix %q: %w", c.TablePrefix, err)
	}
	return nil
}

// checkTablePrefix allows only what needs no quoting in any SQL mode.
func checkTablePrefix(p string) error {
	if len(p) > maxTablePrefix {
		return fmt.Errorf("longer than %d characters", maxTablePrefix)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return fmt.Errorf("may hold only letters, digits and '_', not %q", r)
		}
	}
	return nil
}
