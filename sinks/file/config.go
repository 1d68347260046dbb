package file

import (
	"fmt"
	"time"

	"ringrelay/config"
)

// The fsync policies (Config.Fsync).
const (
	FsyncBatch    = "batch"
	FsyncInterval = "interval"
	FsyncNever    = "never"
)

// Config is the file kind's own keys of a [sinks.NAME] section.
type Config struct {
	// Dir holds the sink's files; it is created (with its parents) at
	// Open if missing. Required.
	Dir string `toml:"dir"`
	// RotateBytes rotates a resolution's current file before a write
	// that would take it past this size (a file holds at least one
	// batch, so one larger batch makes a larger file).
	RotateBytes config.ByteSize `toml:"rotate_bytes"`
	// RotateAge rotates a resolution's current file before a write once
	// its first row is this old.
	RotateAge config.Duration `toml:"rotate_age"`
	// Fsync says when written rows are forced to disk:
	//   "batch"    after every batch written (the default): a batch the
	//              sink counted as written survives a crash of the machine;
	//   "interval" every fsync_interval, for the files written since: a
	//              crash of the machine loses at most that much;
	//   "never"    left to the kernel's writeback (also at rotation and
	//              Close): cheapest, a crash of the machine can lose
	//              whatever the kernel had not written yet. A crash of the
	//              relay alone loses no written row in any mode.
	Fsync string `toml:"fsync"`
	// FsyncInterval is the period of fsync = "interval".
	FsyncInterval config.Duration `toml:"fsync_interval"`
	// MaxFiles is how many rotated files of each resolution are kept
	// (besides the current one); the oldest beyond it are removed.
	MaxFiles int `toml:"max_files"`
}

// DefaultConfig returns the defaults: no dir (it is required), rotation at
// 256 MiB or after an hour, fsync after every batch (every second with
// fsync = "interval"), 24 rotated files kept per resolution.
func DefaultConfig() Config {
	return Config{
		RotateBytes:   256 << 20,
		RotateAge:     config.Duration{Duration: time.Hour},
		Fsync:         FsyncBatch,
		FsyncInterval: config.Duration{Duration: time.Second},
		MaxFiles:      24,
	}
}

// Validate reports the first setting that cannot work; the error starts
// with the key's name.
func (c Config) Validate() error {
	switch {
	case c.Dir == "":
		return fmt.Errorf("dir: required (the directory the TSV files are written to)")
	case c.RotateBytes < 1:
		return fmt.Errorf("rotate_bytes %q: must be positive", c.RotateBytes)
	case c.RotateAge.Duration < time.Second:
		return fmt.Errorf("rotate_age %q: must be at least 1s", c.RotateAge.Duration)
	case c.Fsync != FsyncBatch && c.Fsync != FsyncInterval && c.Fsync != FsyncNever:
		return fmt.Errorf("fsync %q: want one of %q, %q, %q", c.Fsync, FsyncBatch, FsyncInterval, FsyncNever)
	case c.Fsync == FsyncInterval && c.FsyncInterval.Duration < time.Millisecond:
		return fmt.Errorf("fsync_interval %q: must be at least 1ms with fsync = %q", c.FsyncInterval.Duration, FsyncInterval)
	case c.MaxFiles < 1:
		return fmt.Errorf("max_files %d: must be at least 1", c.MaxFiles)
	}
	return nil
}
