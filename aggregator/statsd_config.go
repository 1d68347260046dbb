package aggregator

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"ringrelay/config"
)

// StatsdConfig is the [aggregators.NAME] section of a statsd accumulator.
// Its keys are Etsy statsd's own (snake_case); DefaultStatsdConfig has
// statsd 0.9.0's defaults. The keys that say where flushed lines go (kind,
// output) belong to whoever composes the sections.
type StatsdConfig struct {
	// FlushInterval is statsd's flushInterval: counter rates and timers'
	// count_ps are per second of it.
	FlushInterval config.Duration `toml:"flush_interval"`
	// PercentThreshold lists the percentiles of timers; negative values are
	// "top" percentiles (lower_topN), fractional ones are allowed (99.9).
	PercentThreshold []float64 `toml:"percent_threshold"`
	// LegacyNamespace is graphite.legacyNamespace: stats.K and stats_counts.K
	// for counters and no global_prefix/prefix_* when true.
	LegacyNamespace bool `toml:"legacy_namespace"`
	// GlobalPrefix, PrefixCounter, PrefixTimer, PrefixGauge and PrefixSet are
	// graphite.globalPrefix etc.; used only when LegacyNamespace is false; an
	// empty one is left out of the name.
	GlobalPrefix  string `toml:"global_prefix"`
	PrefixCounter string `toml:"prefix_counter"`
	PrefixTimer   string `toml:"prefix_timer"`
	PrefixGauge   string `toml:"prefix_gauge"`
	PrefixSet     string `toml:"prefix_set"`
	// PrefixStats names statsd's own metrics (statsd.bad_lines_seen, ...).
	PrefixStats string `toml:"prefix_stats"`
	// GlobalSuffix is appended to every name as ".suffix" (before any ;tags);
	// empty means none.
	GlobalSuffix string `toml:"global_suffix"`
	// FlushCounts also sends each counter's count (stats_counts.K or K.count).
	FlushCounts bool `toml:"flush_counts"`
	// DeleteIdleStats deletes counters, timers, sets and gauges after a flush
	// instead of sending them as 0 (gauges: as last value) until restart.
	// DeleteCounters, DeleteTimers, DeleteSets and DeleteGauges override it
	// per type when set.
	DeleteIdleStats bool  `toml:"delete_idle_stats"`
	DeleteCounters  *bool `toml:"delete_counters"`
	DeleteTimers    *bool `toml:"delete_timers"`
	DeleteSets      *bool `toml:"delete_sets"`
	DeleteGauges    *bool `toml:"delete_gauges"`
	// GaugesMaxTTL is how many flushes a gauge survives without an update
	// when gauges are deleted.
	GaugesMaxTTL int `toml:"gauges_max_ttl"`
	// CalculatedTimerMetrics, when not empty, keeps only these timer metrics;
	// "_percent" stands for every percentile ("upper_percent").
	CalculatedTimerMetrics []string `toml:"calculated_timer_metrics"`
	// MaxKeys bounds the distinct keys held between flushes (statsd has no
	// such bound); a sample for a new key beyond it is dropped and counted
	// (Stats().KeysDropped). 0: no bound.
	MaxKeys int `toml:"max_keys"`
	// MaxTimerSamples bounds the samples a timer keeps per flush interval
	// (statsd keeps all). Beyond it the timer keeps a uniform random
	// sample of that size (reservoir sampling) for its percentiles, median
	// and histogram, and exact count, sum, sum_squares, mean, upper, lower
	// and std over every sample; a percentile's count, sum and sum_squares
	// are then scaled from the sample. 0: no bound.
	MaxTimerSamples int `toml:"max_timer_samples"`
	// Histogram: the first entry whose Metric is a substring of a timer's key
	// gives that timer's histogram bins.
	Histogram []HistogramConfig `toml:"histogram"`
}

// HistogramConfig is one [[aggregators.NAME.histogram]] entry.
type HistogramConfig struct {
	// Metric is matched as a substring of the key (tags included); "" matches all.
	Metric string `toml:"metric"`
	// Bins are exclusive upper bounds in order; TOML's inf is statsd's "inf"
	// (a last bin that takes every remaining value). Empty means no histogram.
	Bins []float64 `toml:"bins"`
}

// DefaultStatsdConfig returns Etsy statsd 0.9.0's defaults.
func DefaultStatsdConfig() StatsdConfig {
	return StatsdConfig{
		FlushInterval:    config.Duration{Duration: 10 * time.Second},
		PercentThreshold: []float64{90},
		LegacyNamespace:  true,
		GlobalPrefix:     "stats",
		PrefixCounter:    "counters",
		PrefixTimer:      "timers",
		PrefixGauge:      "gauges",
		PrefixSet:        "sets",
		PrefixStats:      "statsd",
		FlushCounts:      true,
		GaugesMaxTTL:     1,
	}
}

// timerMetricNames are the names calculated_timer_metrics may list.
var timerMetricNames = []string{
	"count", "count_ps", "lower", "upper", "mean", "median", "std", "sum", "sum_squares", "histogram",
	"count_percent", "mean_percent", "upper_percent", "lower_percent", "sum_percent", "sum_squares_percent",
}

// Validate reports the first setting statsd would misread or that cannot work.
func (c *StatsdConfig) Validate() error {
	if c.FlushInterval.Duration < time.Millisecond {
		return fmt.Errorf("flush_interval %q: must be at least 1ms", c.FlushInterval.Duration)
	}
	if c.FlushInterval.Duration%time.Millisecond != 0 {
		return fmt.Errorf("flush_interval %q: must be a whole number of milliseconds", c.FlushInterval.Duration)
	}
	for _, p := range c.PercentThreshold {
		if math.IsNaN(p) || math.IsInf(p, 0) {
			return fmt.Errorf("percent_threshold %v: values must be finite numbers", c.PercentThreshold)
		}
	}
	if c.MaxTimerSamples < 0 {
		return fmt.Errorf("max_timer_samples %d: must not be negative", c.MaxTimerSamples)
	}
	if c.GaugesMaxTTL < 1 {
		return fmt.Errorf("gauges_max_ttl %d: must be at least 1 (flushes)", c.GaugesMaxTTL)
	}
	for _, m := range c.CalculatedTimerMetrics {
		if !slices.Contains(timerMetricNames, m) {
			return fmt.Errorf("calculated_timer_metrics %q: unknown metric, allowed: %s", m, strings.Join(timerMetricNames, ", "))
		}
	}
	for i, h := range c.Histogram {
		for _, b := range h.Bins {
			if math.IsNaN(b) || math.IsInf(b, -1) {
				return fmt.Errorf("histogram[%d].bins %v: bins must be numbers or inf", i, h.Bins)
			}
		}
	}
	for _, p := range []struct{ key, v string }{
		{"global_prefix", c.GlobalPrefix}, {"prefix_counter", c.PrefixCounter}, {"prefix_timer", c.PrefixTimer},
		{"prefix_gauge", c.PrefixGauge}, {"prefix_set", c.PrefixSet}, {"prefix_stats", c.PrefixStats},
		{"global_suffix", c.GlobalSuffix},
	} {
		if strings.ContainsAny(p.v, " \t\r\n") {
			return fmt.Errorf("%s %q: must not contain white space (it is part of every graphite line)", p.key, p.v)
		}
	}
	return nil
}

// deletes resolves delete_idle_stats and its four overrides as statsd does.
func (c *StatsdConfig) deletes() (counters, timers, sets, gauges bool) {
	pick := func(p *bool) bool {
		if p != nil {
			return *p
		}
		return c.DeleteIdleStats
	}
	return pick(c.DeleteCounters), pick(c.DeleteTimers), pick(c.DeleteSets), pick(c.DeleteGauges)
}
