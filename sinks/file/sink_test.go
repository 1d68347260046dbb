package file

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/config"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

// t0 is a bin boundary of every resolution the tests use.
const t0 = 1_800_000_000 - 1_800_000_000%3600

func dur(d time.Duration) config.Duration { return config.Duration{Duration: d} }

// testConfig is the default config writing to dir.
func testConfig(dir string) Config {
	c := DefaultConfig()
	c.Dir = dir
	return c
}

// queue is a queue that sheds nothing in these tests, of batch points a write.
func queue(batch int) sinks.AsyncConfig {
	return sinks.AsyncConfig{QueuePoints: 100_000, BatchPoints: batch}
}

func rets(t *testing.T, times ...string) []sinks.Retention {
	t.Helper()
	rs, err := sinks.ParseTimes(times)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// openSink opens a sink called "test" on clk; the test closes it at its end.
func openSink(t *testing.T, c Config, clk *sinkstest.Clock, q sinks.AsyncConfig, times ...string) *Sink {
	t.Helper()
	s, err := open("test", c, rets(t, times...), q, zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// waitWritten polls until the sink has written n points.
func waitWritten(t *testing.T, s *Sink, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Written < n {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: %d points not written within 10 s", s.Stats(), n)
		}
		time.Sleep(time.Millisecond) // poll
	}
}

// readRows parses a TSV file back into points, exactly.
func readRows(t *testing.T, path string) []sinks.Point {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []sinks.Point
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 8 {
			t.Fatalf("%s: row %q has %d columns, want 8", path, sc.Text(), len(c))
		}
		var p sinks.Point
		var errs [7]error
		p.Path = c[0]
		p.Resolution, errs[0] = strconv.ParseInt(c[1], 10, 64)
		p.Start, errs[1] = strconv.ParseInt(c[2], 10, 64)
		p.Count, errs[2] = strconv.ParseInt(c[3], 10, 64)
		p.Sum, errs[3] = strconv.ParseFloat(c[4], 64)
		p.Min, errs[4] = strconv.ParseFloat(c[5], 64)
		p.Max, errs[5] = strconv.ParseFloat(c[6], 64)
		p.Last, errs[6] = strconv.ParseFloat(c[7], 64)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("%s: row %q: %v", path, sc.Text(), err)
			}
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameBits compares points with their floats bit for bit (NaN, -0).
func sameBits(a, b sinks.Point) bool {
	fa, fb := [4]float64{a.Sum, a.Min, a.Max, a.Last}, [4]float64{b.Sum, b.Min, b.Max, b.Last}
	for i := range fa {
		if math.Float64bits(fa[i]) != math.Float64bits(fb[i]) {
			return false
		}
	}
	return a.Path == b.Path && a.Resolution == b.Resolution && a.Start == b.Start && a.Count == b.Count
}

// rotated lists the rotated files of res in dir, oldest first.
func rotated(t *testing.T, dir, res string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "test."+res+".tsv.*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig("/d")
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // error prefix, "" for none
	}{
		{"defaults with a dir", func(*Config) {}, ""},
		{"fsync batch", func(c *Config) { c.Fsync = "batch" }, ""},
		{"fsync interval", func(c *Config) { c.Fsync = "interval" }, ""},
		{"fsync never", func(c *Config) { c.Fsync = "never" }, ""},
		{"fsync always", func(c *Config) { c.Fsync = "always" }, `fsync "always": want one of "batch", "interval", "never"`},
		{"fsync empty", func(c *Config) { c.Fsync = "" }, `fsync "":`},
		{"interval of 0", func(c *Config) { c.Fsync, c.FsyncInterval = "interval", dur(0) }, "fsync_interval"},
		{"no dir", func(c *Config) { c.Dir = "" }, "dir: required"},
		{"rotate_bytes 0", func(c *Config) { c.RotateBytes = 0 }, "rotate_bytes"},
		{"rotate_age 0", func(c *Config) { c.RotateAge = dur(0) }, "rotate_age"},
		{"max_files 0", func(c *Config) { c.MaxFiles = 0 }, "max_files 0:"},
	} {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestRowsParseBackExactly(t *testing.T) {
	dir := t.TempDir()
	clk := sinkstest.NewClock(t0 + 60)
	s := openSink(t, testConfig(dir), clk, queue(500), "10s:1h", "1m:1d")
	in := []sinks.Point{
		{Path: "a.b", Resolution: 10, Start: t0, Count: 3, Sum: 0.1 + 0.2, Min: math.Copysign(0, -1), Max: math.MaxFloat64, Last: math.SmallestNonzeroFloat64},
		{Path: "a.b", Resolution: 60, Start: t0, Count: 1, Sum: math.Inf(1), Min: math.Inf(-1), Max: math.NaN(), Last: 1e-300},
		{Path: "ünï.cödé-_:x", Resolution: 10, Start: t0 + 10, Count: -5, Sum: 123456789.123456789, Min: -1.5, Max: 2.5e10, Last: 1},
		{Path: "a.b", Resolution: 10, Start: t0, Count: 4, Sum: 10, Min: 1, Max: 4, Last: 4}, // re-emitted
	}
	s.Write(in)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got10 := readRows(t, filepath.Join(dir, "test.10s.tsv"))
	got60 := readRows(t, filepath.Join(dir, "test.1m.tsv"))
	want10 := []sinks.Point{in[0], in[2], in[3]}
	if len(got10) != len(want10) || len(got60) != 1 || !sameBits(got60[0], in[1]) {
		t.Fatalf("10s rows %+v\n1m rows %+v\nwant %+v and %+v", got10, got60, want10, in[1])
	}
	for i := range want10 {
		if !sameBits(got10[i], want10[i]) {
			t.Errorf("10s row %d: %+v, want %+v", i, got10[i], want10[i])
		}
	}
	if st := s.Stats(); st.Written != 4 || st.Dropped != 0 || st.Queued != 0 {
		t.Errorf("stats %+v, want 4 written", st)
	}
}

func TestRotationBySize(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir)
	c.RotateBytes = 70 // two rows of 31 bytes
	c.MaxFiles = 100
	clk := sinkstest.NewClock(t0 + 60)
	s := openSink(t, c, clk, queue(1), "10s:1h")
	var in []sinks.Point
	for i := range int64(9) {
		in = append(in, sinkstest.Point(fmt.Sprintf("size.%d", i), 10, t0, float64(i)))
	}
	s.Write(in)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files := append(rotated(t, dir, "10s"), filepath.Join(dir, "test.10s.tsv"))
	if len(files) != 4+1 { // rows 0-1, 2-3, 4-5, 6-7 rotated, 8 current
		t.Fatalf("files %v, want 4 rotated and the current one", files)
	}
	var got []sinks.Point
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > int64(c.RotateBytes) {
			t.Errorf("%s has %d bytes, over rotate_bytes %d", f, fi.Size(), c.RotateBytes)
		}
		got = append(got, readRows(t, f)...)
	}
	if !slices.EqualFunc(got, in, sameBits) {
		t.Errorf("rows across the files in name order: %+v, want %+v", got, in)
	}
	// The same second rotated four times: the time, then -001, -002, -003.
	stamp := time.Unix(t0+60, 0).UTC().Format(rotatedLayout)
	for i, f := range files[:4] {
		want := filepath.Join(dir, "test.10s.tsv."+stamp)
		if i > 0 {
			want += fmt.Sprintf("-%03d", i)
		}
		if f != want {
			t.Errorf("rotated file %d is %s, want %s", i, f, want)
		}
	}
}

func TestRotationByAge(t *testing.T) {
	dir := t.TempDir()
	c := testConfig(dir)
	c.RotateAge = dur(time.Hour)
	clk := sinkstest.NewClock(t0)
	s := openSink(t, c, clk, queue(500), "10s:1d")
	write := func(i int64) {
		s.Write([]sinks.Point{sinkstest.Point("age", 10, t0+10*i, float64(i))})
		waitWritten(t, s, uint64(i+1))
	}
	write(0)
	clk.Advance(59 * time.Minute)
	write(1) // 59 minutes after the first row: same file
	if r := rotated(t, dir, "10s"); len(r) != 0 {
		t.Fatalf("rotated %v before the file was an hour old", r)
	}
	clk.Advance(time.Minute)
	write(2) // an hour after the first row: rotated first
	r := rotated(t, dir, "10s")
	if want := filepath.Join(dir, "test.10s.tsv."+clk.Now().UTC().Format(rotatedLayout)); len(r) != 1 || r[0] != want {
		t.Fatalf("rotated files %v, want %s", r, want)
	}
	if got := sinkstest.Starts(readRows(t, r[0])); !slices.Equal(got, []int64{t0, t0 + 10}) {
		t.Errorf("rotated file holds starts %v, want the first two", got)
	}
	if got := sinkstest.Starts(readRows(t, filepath.Join(dir, "test.10s.tsv"))); !slices.Equal(got, []int64{t0 + 20}) {
		t.Errorf("current file holds starts %v, want the third", got)
	}
	clk.Advance(3 * time.Hour)
	if r := rotated(t, dir, "10s"); len(r) != 1 {
		t.Errorf("an idle file was rotated: %v", r)
	}
}

func TestMaxFilesPrunesOldest(t *testing.T) {
	dir := t.TempDir()
	for _, other := range []string{"notes.txt", "test.10s.tsv.old", "test.1m.tsv.20200101T000000Z"} {
		if err := os.WriteFile(filepath.Join(dir, other), []byte("keep me\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := testConfig(dir)
	c.RotateBytes = 1 // every batch rotates the file before it
	c.MaxFiles = 2
	clk := sinkstest.NewClock(t0 + 60)
	s := openSink(t, c, clk, queue(1), "10s:1h")
	for i := range int64(6) {
		clk.Advance(time.Second)
		s.Write([]sinks.Point{sinkstest.Point("prune", 10, t0+10*i, float64(i))})
		waitWritten(t, s, uint64(i+1))
	}
	r := rotated(t, dir, "10s")
	var got [][]int64
	for _, f := range r {
		if strings.HasSuffix(f, ".old") {
			continue
		}
		got = append(got, sinkstest.Starts(readRows(t, f)))
	}
	if want := [][]int64{{t0 + 30}, {t0 + 40}}; len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
		t.Errorf("rotated files %v hold %v, want the newest two: %v", r, got, want)
	}
	for _, other := range []string{"notes.txt", "test.10s.tsv.old", "test.1m.tsv.20200101T000000Z"} {
		if _, err := os.Stat(filepath.Join(dir, other)); err != nil {
			t.Errorf("a file not of this sink's 10s rotation was touched: %v", err)
		}
	}
}

func TestOpenRotatesWhatAnEarlierRunLeft(t *testing.T) {
	dir := t.TempDir()
	current := filepath.Join(dir, "test.10s.tsv")
	if err := os.WriteFile(current, []byte("old\t10\t0\t1\t1\t1\t1\t1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	clk := sinkstest.NewClock(t0)
	openSink(t, testConfig(dir), clk, queue(500), "10s:1h")
	r := rotated(t, dir, "10s")
	if len(r) != 1 {
		t.Fatalf("rotated files %v, want the earlier run's file", r)
	}
	if rows := readRows(t, r[0]); len(rows) != 1 || rows[0].Path != "old" {
		t.Errorf("rotated file holds %+v, want the earlier run's row", rows)
	}
	if fi, err := os.Stat(current); err != nil || fi.Size() != 0 {
		t.Errorf("current file after Open: %v, %v; want it empty", fi, err)
	}
}

func TestFsyncModes(t *testing.T) {
	for _, mode := range []string{FsyncBatch, FsyncInterval, FsyncNever} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			c := testConfig(dir)
			c.Fsync, c.FsyncInterval = mode, dur(10*time.Millisecond)
			c.RotateBytes = 64
			clk := sinkstest.NewClock(t0)
			s := openSink(t, c, clk, queue(1), "10s:1h")
			s.Write([]sinks.Point{sinkstest.Point("f.a", 10, t0, 1), sinkstest.Point("f.b", 10, t0, 2), sinkstest.Point("f.c", 10, t0, 3)})
			waitWritten(t, s, 3)
			if mode == FsyncInterval { // the syncer catches up with what was written
				deadline := time.Now().Add(10 * time.Second)
				for dirty(s) {
					if time.Now().After(deadline) {
						t.Fatal("files still not synced 10 s after the write with fsync_interval 10ms")
					}
					time.Sleep(time.Millisecond) // poll
				}
			}
			if err := s.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []sinks.Point
			for _, f := range append(rotated(t, dir, "10s"), filepath.Join(dir, "test.10s.tsv")) {
				got = append(got, readRows(t, f)...)
			}
			if len(got) != 3 {
				t.Errorf("fsync %q: rows %+v, want 3", mode, got)
			}
		})
	}
}

func dirty(s *Sink) bool {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	for _, f := range s.w.files {
		if f.dirty {
			return true
		}
	}
	return false
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "a-file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "test.10s.tsv"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sink string
		c          Config
		want       []string
	}{
		{"dir cannot be created", "test", testConfig(filepath.Join(blocker, "sub")), []string{"dir", filepath.Join(blocker, "sub"), "failed to create"}},
		{"current file is a directory", "test", testConfig(dir), []string{filepath.Join(dir, "test.10s.tsv"), "not a regular file"}},
		{"name with a slash", "a/b", testConfig(dir), []string{`"a/b"`}},
		{"bad config", "test", Config{Dir: dir}, []string{"rotate_bytes"}},
	} {
		_, err := Open(tc.sink, tc.c, rets(t, "10s:1h"), queue(1), zap.NewNop())
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Open = %v, want an error saying %q", tc.name, err, w)
			}
		}
	}
}

func TestCloseFlushesEverything(t *testing.T) {
	dir := t.TempDir()
	clk := sinkstest.NewClock(t0 + 60)
	s, err := open("test", testConfig(dir), rets(t, "10s:1h"), queue(100), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	for i := range n / 100 {
		batch := make([]sinks.Point, 100)
		for k := range batch {
			batch[k] = sinkstest.Point(fmt.Sprintf("flush.%d.%d", i, k), 10, t0, 1)
		}
		s.Write(batch)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rows := readRows(t, filepath.Join(dir, "test.10s.tsv")); len(rows) != n {
		t.Errorf("%d rows after Close, want %d", len(rows), n)
	}
	if st := s.Stats(); st.Written != n || st.Queued != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v, want %d written", st, n)
	}
	s.Write([]sinks.Point{sinkstest.Point("late", 10, t0, 1)})
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("a write after Close: stats %+v, want it dropped", st)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStatsCountWhatIsRefused(t *testing.T) {
	dir := t.TempDir()
	clk := sinkstest.NewClock(t0 + 7200)
	s := openSink(t, testConfig(dir), clk, queue(500), "10s:1h")
	s.Write([]sinks.Point{
		sinkstest.Point("ok.1", 10, t0+7200, 1),
		sinkstest.Point("", 10, t0+7200, 1),          // no path
		sinkstest.Point("tab\there", 10, t0+7200, 1), // would split the row
		sinkstest.Point("nl\nhere", 10, t0+7200, 1),
		sinkstest.Point("ok.2", 60, t0+7200, 1), // resolution not kept
		sinkstest.Point("ok.3", 10, t0+7205, 1), // not on a bin
		sinkstest.Point("ok.4", 10, t0+3590, 1), // ended an hour ago: past its retention
		sinkstest.Point("ok.5", 10, t0+3600, 1), // still within it
		sinkstest.Point("ok.6", 10, t0+7210, 1),
	})
	waitWritten(t, s, 3)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Written != 3 || st.Dropped != 6 || st.Errors != 0 {
		t.Errorf("stats %+v, want 3 written and 6 dropped", st)
	}
	var paths []string
	for _, p := range readRows(t, filepath.Join(dir, "test.10s.tsv")) {
		paths = append(paths, p.Path)
	}
	if want := []string{"ok.1", "ok.5", "ok.6"}; !slices.Equal(paths, want) {
		t.Errorf("rows for %v, want %v", paths, want)
	}
}

func TestResLabel(t *testing.T) {
	for sec, want := range map[int64]string{1: "1s", 10: "10s", 60: "1m", 90: "90s", 300: "5m", 3600: "1h", 7200: "2h", 86400: "1d", 5400: "90m"} {
		if got := resLabel(sec); got != want {
			t.Errorf("resLabel(%d) = %q, want %q", sec, got, want)
		}
	}
}
