package memory

import (
	"fmt"
	"time"

	"ringrelay/config"
)

// Config is the memory kind's own keys of a [sinks.NAME] section.
type Config struct {
	// MaxSeries bounds the series (paths) held; a point of a new path
	// beyond it is dropped and counted (Stats.Dropped). A series whose
	// points have all expired is forgotten, which makes room again.
	MaxSeries int `toml:"max_series"`
	// MaxPoints bounds the bins held over every series and resolution
	// (48 bytes each, and up to as much again while rings grow): a point
	// that would add a bin beyond it is dropped and counted, while bins
	// already held are still overwritten. With max_series it is what
	// bounds the store's memory: the default 10,000,000 is about 0.5 to
	// 1 GiB.
	MaxPoints int `toml:"max_points"`
	// Snapshot is a file the store is saved to every SnapshotInterval and
	// at Close, and loaded from at Open, so that a restart keeps the data;
	// "" keeps nothing across restarts.
	Snapshot string `toml:"snapshot"`
	// SnapshotInterval is how often the snapshot is written while the
	// store is open; 0 writes it only at Close.
	SnapshotInterval config.Duration `toml:"snapshot_interval"`
}

// DefaultConfig returns the defaults: 100,000 series, no snapshot, and a
// snapshot every minute when one is configured.
func DefaultConfig() Config {
	return Config{MaxSeries: 100_000, MaxPoints: 10_000_000, SnapshotInterval: config.Duration{Duration: time.Minute}}
}

// Validate reports the first setting that cannot work; the error starts
// with the key's name.
func (c Config) Validate() error {
	if c.MaxSeries < 1 {
		return fmt.Errorf("max_series %d: must be at least 1", c.MaxSeries)
	}
	if c.MaxPoints < 1 {
		return fmt.Errorf("max_points %d: must be at least 1", c.MaxPoints)
	}
	if d := c.SnapshotInterval.Duration; d != 0 && d < time.Second {
		return fmt.Errorf("snapshot_interval %q: must be at least 1s (or 0: only at Close)", d)
	}
	return nil
}
