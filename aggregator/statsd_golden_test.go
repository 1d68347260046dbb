package aggregator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStatsdGolden runs every testdata/statsd/NAME.txt through RunOracleFormat
// in both namespaces and compares with NAME.golden and NAME.nolegacy.golden,
// made by the real Etsy statsd 0.9.0 (testdata/statsd/gen.sh).
func TestStatsdGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/statsd/*.txt")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no cases in testdata/statsd: %v", err)
	}
	for _, c := range cases {
		name := strings.TrimSuffix(filepath.Base(c), ".txt")
		in, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, legacy := range []bool{true, false} {
			golden := name + ".golden"
			if !legacy {
				golden = name + ".nolegacy.golden"
			}
			t.Run(golden, func(t *testing.T) {
				want, err := os.ReadFile(filepath.Join("testdata/statsd", golden))
				if err != nil {
					t.Fatalf("no golden (run testdata/statsd/gen.sh): %v", err)
				}
				cfg, extra, err := oracleArgsConfig(in)
				if err != nil {
					t.Fatal(err)
				}
				cfg.LegacyNamespace = legacy
				var got bytes.Buffer
				if err := RunOracleFormat(cfg, bytes.NewReader(in), &got, extra); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Bytes(), want) {
					t.Errorf("%s: output differs from %s:\n%s", c, golden, lineDiff(want, got.Bytes()))
				}
			})
		}
	}
}

// oracleArgsConfig turns a case's "## arg: --opt=value" lines (the statsd
// oracle's options) into a StatsdConfig and the number of extra flushes.
func oracleArgsConfig(in []byte) (StatsdConfig, int, error) {
	cfg := DefaultStatsdConfig()
	cfg.FlushInterval.Duration = time.Second // the oracle's default
	extra := 0
	for _, l := range strings.Split(string(in), "\n") {
		arg, ok := strings.CutPrefix(l, "## arg: ")
		if !ok {
			continue
		}
		opt, val, _ := strings.Cut(arg, "=")
		var err error
		switch opt {
		case "--pct":
			cfg.PercentThreshold = nil
			for _, p := range strings.Split(val, ",") {
				f, perr := strconv.ParseFloat(p, 64)
				if perr != nil {
					return cfg, 0, perr
				}
				cfg.PercentThreshold = append(cfg.PercentThreshold, f)
			}
		case "--delete-idle":
			cfg.DeleteIdleStats = val == "true"
		case "--flush-ms":
			var ms int
			ms, err = strconv.Atoi(val)
			cfg.FlushInterval.Duration = time.Duration(ms) * time.Millisecond
		case "--extra-flushes":
			extra, err = strconv.Atoi(val)
		case "--histogram":
			var hs []struct {
				Metric string `json:"metric"`
				Bins   []any  `json:"bins"`
			}
			err = json.Unmarshal([]byte(val), &hs)
			for _, h := range hs {
				hc := HistogramConfig{Metric: h.Metric, Bins: []float64{}}
				for _, b := range h.Bins {
					switch b := b.(type) {
					case float64:
						hc.Bins = append(hc.Bins, b)
					case string:
						hc.Bins = append(hc.Bins, math.Inf(1))
					}
				}
				cfg.Histogram = append(cfg.Histogram, hc)
			}
		case "--set":
			key, js, _ := strings.Cut(val, "=")
			err = setOracleKey(&cfg, key, js)
		default:
			err = fmt.Errorf("unknown oracle option %q", opt)
		}
		if err != nil {
			return cfg, 0, fmt.Errorf("failed to read case argument %q: %w", arg, err)
		}
	}
	return cfg, extra, nil
}

func setOracleKey(cfg *StatsdConfig, key, js string) error {
	str := map[string]*string{
		"graphite.globalPrefix": &cfg.GlobalPrefix, "graphite.prefixCounter": &cfg.PrefixCounter,
		"graphite.prefixTimer": &cfg.PrefixTimer, "graphite.prefixGauge": &cfg.PrefixGauge,
		"graphite.prefixSet": &cfg.PrefixSet, "graphite.globalSuffix": &cfg.GlobalSuffix,
		"prefixStats": &cfg.PrefixStats,
	}
	ptr := map[string]**bool{
		"deleteCounters": &cfg.DeleteCounters, "deleteTimers": &cfg.DeleteTimers,
		"deleteSets": &cfg.DeleteSets, "deleteGauges": &cfg.DeleteGauges,
	}
	switch {
	case str[key] != nil:
		return json.Unmarshal([]byte(js), str[key])
	case ptr[key] != nil:
		var b bool
		*ptr[key] = &b
		return json.Unmarshal([]byte(js), &b)
	case key == "flush_counts":
		return json.Unmarshal([]byte(js), &cfg.FlushCounts)
	case key == "gaugesMaxTTL":
		return json.Unmarshal([]byte(js), &cfg.GaugesMaxTTL)
	case key == "calculatedTimerMetrics":
		return json.Unmarshal([]byte(js), &cfg.CalculatedTimerMetrics)
	}
	return fmt.Errorf("unknown statsd key %q", key)
}

// lineDiff lists the lines only in want (-) and only in got (+), per flush.
func lineDiff(want, got []byte) string {
	count := func(b []byte) map[string]int {
		m := map[string]int{}
		sec := ""
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "## flush") {
				sec = l + ": "
				continue
			}
			m[sec+l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var out []string
	for l, n := range w {
		if g[l] < n {
			out = append(out, "- "+l)
		}
	}
	for l, n := range g {
		if w[l] < n {
			out = append(out, "+ "+l)
		}
	}
	if len(out) > 60 {
		out = append(out[:60], fmt.Sprintf("... %d more", len(out)-60))
	}
	if len(out) == 0 {
		return "(same lines, different order or headers)"
	}
	return strings.Join(out, "\n")
}
