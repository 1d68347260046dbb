package graphiteapi

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"ringrelay/config"
)

// Config is the [graphiteapi] section.
type Config struct {
	// Listen is the address of the API's own HTTP listener; "" serves it
	// on the admin listener only (see API.Paths).
	Listen string `toml:"listen"`
	// Sink names the [sinks.NAME] section the API reads (a sink kind
	// that can be read: memory, mysql, cassandra); "" disables the API.
	Sink string `toml:"sink"`
	// Timezone is graphite-web's TIME_ZONE: how from/until without a tz
	// parameter ("midnight", "12:00_20261129") and csv timestamps are
	// read. An IANA name.
	Timezone string `toml:"timezone"`
	// MaxSeries bounds the series one request may read (each path a
	// glob matches counts); a request over it gets a 400 naming the
	// pattern. It keeps one careless "*.*.*" from reading the store.
	MaxSeries int `toml:"max_series"`
	// MaxPoints bounds the points one request may read (series × points
	// of each); a request over it gets a 400 saying to narrow the
	// window or the pattern.
	MaxPoints int `toml:"max_points"`
	// MaxBody bounds a POST form body ("target=...&target=...").
	MaxBody config.ByteSize `toml:"max_body"`
	// Timeout bounds one request's reads from the sink.
	Timeout config.Duration `toml:"timeout"`
}

// DefaultConfig is the section as the relay runs it when the file does
// not say: disabled (no sink), UTC, 10,000 series and 10 M points per
// request, 1 MiB bodies, 30 s per request.
func DefaultConfig() Config {
	return Config{
		Timezone:  "UTC",
		MaxSeries: 10000,
		MaxPoints: 10_000_000,
		MaxBody:   1 << 20,
		Timeout:   config.Duration{Duration: 30 * time.Second},
	}
}

// Validate reports the first key that cannot work, naming it.
func (c Config) Validate() error {
	if c.Listen != "" {
		_, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return fmt.Errorf("graphiteapi.listen %q: want host:port: %w", c.Listen, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("graphiteapi.listen %q: port %q is not a number in 0..65535", c.Listen, port)
		}
	}
	if c.Listen != "" && c.Sink == "" {
		return fmt.Errorf("graphiteapi.listen %q is set but graphiteapi.sink is empty: name the [sinks.NAME] to read", c.Listen)
	}
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		return fmt.Errorf("graphiteapi.timezone %q: not a known time zone (want an IANA name such as \"UTC\" or \"Europe/Berlin\")", c.Timezone)
	}
	if c.MaxSeries < 1 {
		return fmt.Errorf("graphiteapi.max_series %d: must be at least 1", c.MaxSeries)
	}
	if c.MaxPoints < 1 {
		return fmt.Errorf("graphiteapi.max_points %d: must be at least 1", c.MaxPoints)
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("graphiteapi.max_body %d: must be at least 1KiB", c.MaxBody)
	}
	if c.Timeout.Duration <= 0 {
		return fmt.Errorf("graphiteapi.timeout %s: must be positive", c.Timeout.Duration)
	}
	return nil
}
