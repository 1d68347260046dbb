package aggregator

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"ringrelay/config"
)

// GraphiteConfig is the [aggregators.NAME] section of a graphite
// accumulator (keys in snake_case). The keys that say where flushed bins go
// belong to whoever composes the sections.
type GraphiteConfig struct {
	// Times lists "resolution:retention" pairs, finest first, as cadent
	// writes them ("10s:168h", "1m:30d"). Units: Go durations, or a number
	// with s, m (min), h, d, w or y (365d). Each resolution is a whole
	// number of seconds, divides the next one, and is at most its retention.
	// A bin is held (and a late point re-emits it) until its end is older
	// than its retention.
	Times []string `toml:"times"`
	// MaxKeys bounds the distinct paths held, and separately the aggregate
	// metrics of the rules held; a line for a new path beyond it is dropped
	// and counted (GraphiteStats.KeysDropped).
	MaxKeys int `toml:"max_keys"`
	// FlushDelay holds a bin for this long after its end before it is
	// emitted, so that late points make it into its first emission.
	FlushDelay config.Duration `toml:"flush_delay"`
	// Rules is an aggregation-rules.conf of carbon-aggregator, one rule per
	// line (see ParseRules); empty means none.
	Rules string `toml:"rules"`
	// ForwardAll is carbon's FORWARD_ALL: a path that rules aggregate is also
	// binned itself, unless it is one of the aggregate paths it produced.
	// When false, such paths are only aggregated. Paths no rule matches are
	// always binned.
	ForwardAll bool `toml:"forward_all"`
	// MaxAggregationIntervals is carbon's MAX_AGGREGATION_INTERVALS: a rule's
	// interval is forgotten once it is this many frequencies older than the
	// current interval.
	MaxAggregationIntervals int `toml:"max_aggregation_intervals"`
}

// DefaultGraphiteConfig returns the defaults: 10-second bins for a week,
// 1-minute bins for 30 days, 1,000,000 keys, no flush delay, no rules,
// and carbon's FORWARD_ALL = True and MAX_AGGREGATION_INTERVALS = 5.
func DefaultGraphiteConfig() GraphiteConfig {
	return GraphiteConfig{
		Times:                   []string{"10s:168h", "1m:720h"},
		MaxKeys:                 1_000_000,
		ForwardAll:              true,
		MaxAggregationIntervals: 5,
	}
}

// Retention is one parsed entry of GraphiteConfig.Times.
type Retention struct {
	Resolution, Retention time.Duration
}

// Validate reports the first setting that cannot work, naming its key.
func (c *GraphiteConfig) Validate() error {
	if _, err := c.retentions(); err != nil {
		return err
	}
	if c.MaxKeys < 1 {
		return fmt.Errorf("max_keys %d: must be at least 1", c.MaxKeys)
	}
	if c.MaxAggregationIntervals < 0 {
		return fmt.Errorf("max_aggregation_intervals %d: must not be negative", c.MaxAggregationIntervals)
	}
	if c.FlushDelay.Duration%time.Second != 0 {
		return fmt.Errorf("flush_delay %q: must be a whole number of seconds", c.FlushDelay.Duration)
	}
	if _, err := ParseRules(c.Rules); err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	return nil
}

// Retentions returns Times parsed, finest first.
func (c *GraphiteConfig) Retentions() ([]Retention, error) { return c.retentions() }

func (c *GraphiteConfig) retentions() ([]Retention, error) {
	if len(c.Times) == 0 {
		return nil, fmt.Errorf("times: at least one \"resolution:retention\" entry is needed")
	}
	var rs []Retention
	for i, t := range c.Times {
		res, ret, ok := strings.Cut(t, ":")
		if !ok {
			return nil, fmt.Errorf("times[%d] %q: want \"resolution:retention\", e.g. \"10s:168h\"", i, t)
		}
		r, err := parseSpan(res)
		if err != nil {
			return nil, fmt.Errorf("times[%d] %q: resolution: %w", i, t, err)
		}
		k, err := parseSpan(ret)
		if err != nil {
			return nil, fmt.Errorf("times[%d] %q: retention: %w", i, t, err)
		}
		if err := checkRetention(rs, Retention{Resolution: r, Retention: k}); err != nil {
			return nil, fmt.Errorf("times[%d] %q: %w", i, t, err)
		}
		if c.FlushDelay.Duration >= k {
			return nil, fmt.Errorf("times[%d] %q: retention must be longer than flush_delay %s", i, t, c.FlushDelay.Duration)
		}
		rs = append(rs, Retention{Resolution: r, Retention: k})
	}
	return rs, nil
}

// CheckRetentions checks a list of retentions as the graphite
// aggregator's times and every sink take them: at least one, finest
// first, each resolution a whole number of seconds (at least 1s) that is
// a larger multiple of the previous one, each retention at least its
// resolution. The error names the entry.
func CheckRetentions(rs []Retention) error {
	if len(rs) == 0 {
		return fmt.Errorf("times: at least one \"resolution:retention\" entry is needed")
	}
	for i, r := range rs {
		if err := checkRetention(rs[:i], r); err != nil {
			return fmt.Errorf("times[%d] %s:%s: %w", i, r.Resolution, r.Retention, err)
		}
	}
	return nil
}

// checkRetention checks r, to follow the retentions before.
func checkRetention(before []Retention, r Retention) error {
	switch {
	case r.Resolution < time.Second || r.Resolution%time.Second != 0:
		return fmt.Errorf("resolution must be a whole number of seconds, at least 1s")
	case r.Retention < r.Resolution:
		return fmt.Errorf("retention must be at least the resolution")
	}
	if len(before) > 0 {
		prev := before[len(before)-1].Resolution
		if r.Resolution <= prev || r.Resolution%prev != 0 {
			return fmt.Errorf("resolution %s must be a multiple of the previous one (%s) and larger", r.Resolution, prev)
		}
	}
	return nil
}

// parseSpan reads "10s", "1m30s" (Go) or "7d", "2w", "1y" (whisper units).
func parseSpan(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("%q: must be positive", s)
		}
		return d, nil
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(s[:i], 10, 32)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q: want a positive number and a unit (s, m, h, d, w, y)", s)
	}
	unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour,
		"d": 24 * time.Hour, "w": 7 * 24 * time.Hour, "y": 365 * 24 * time.Hour}[s[i:]]
	if unit == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q, allowed: s, m, h, d, w, y", s, s[i:])
	}
	return time.Duration(n) * unit, nil
}
