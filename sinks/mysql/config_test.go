package mysql

import (
	"strings"
	"testing"
	"time"

	"ringrelay/config"
)

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.DSN = "relay:secret@tcp(127.0.0.1:3306)/metrics"
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // error prefix; "" for valid
	}{
		{"defaults with a dsn", func(*Config) {}, ""},
		{"unix socket dsn", func(c *Config) { c.DSN = "root@unix(/run/mysqld/mysqld.sock)/metrics" }, ""},
		{"no dsn", func(c *Config) { c.DSN = "" }, "dsn: required"},
		{"unparsable dsn", func(c *Config) { c.DSN = "relay:secret@tcp(127.0.0.1:3306)" }, "dsn: "},
		{"dsn without database", func(c *Config) { c.DSN = "relay:secret@tcp(127.0.0.1:3306)/" }, "dsn: names no database"},
		{"no connections", func(c *Config) { c.MaxOpenConns = 0 }, "max_open_conns 0:"},
		{"retention too often", func(c *Config) { c.RetentionInterval = config.Duration{Duration: time.Millisecond} }, "retention_interval"},
		{"prefix with a quote", func(c *Config) { c.TablePrefix = "x`y" }, "table_prefix"},
		{"prefix too long", func(c *Config) { c.TablePrefix = strings.Repeat("p", maxTablePrefix+1) }, "table_prefix"},
		{"empty prefix", func(c *Config) { c.TablePrefix = "" }, ""},
	} {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Validate() = %v, want nil", tc.name, err)
		case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
			t.Errorf("%s: Validate() = %v, want an error starting with %q", tc.name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("%s: Validate() = %v: the error repeats the password", tc.name, err)
		}
	}
}
