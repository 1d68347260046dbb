package memory

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"ringrelay/config"
	"ringrelay/sinks"
	"ringrelay/sinks/sinkstest"
)

func snapConfig(file string) Config {
	c := DefaultConfig()
	c.Snapshot = file
	return c
}

func TestSnapshotRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store.snap")
	clk := sinkstest.NewClock(t0 + 600)
	s, err := open("test", snapConfig(file), rets(t, "10s:1h", "1m:1d"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	in := []sinks.Point{
		{Path: "a.b", Resolution: 10, Start: t0, Count: 3, Sum: 0.1 + 0.2, Min: math.Copysign(0, -1), Max: math.MaxFloat64, Last: math.SmallestNonzeroFloat64},
		{Path: "a.b", Resolution: 10, Start: t0 + 590, Count: 1, Sum: math.Inf(1), Min: math.Inf(-1), Max: 1e300, Last: 7},
		{Path: "a.b", Resolution: 60, Start: t0 + 540, Count: 1, Sum: 2, Min: 2, Max: 2, Last: 2},
		{Path: "a.b.c", Resolution: 60, Start: t0, Count: -1, Sum: 1, Min: 1, Max: 1, Last: 1},
		{Path: "z", Resolution: 10, Start: t0 + 300, Count: 1, Sum: 1, Min: 1, Max: 1, Last: 1},
	}
	s.Write(in)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if matches, _ := filepath.Glob(file + ".tmp-*"); len(matches) != 0 {
		t.Errorf("temporary files left behind: %v", matches)
	}

	s2, err := open("test", snapConfig(file), rets(t, "10s:1h", "1m:1d"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	var got []sinks.Point
	for _, path := range []string{"a.b", "a.b.c", "z"} {
		for _, res := range []int64{10, 60} {
			got = append(got, sinkstest.Fetch(t, s2, path, res, 0, math.MaxInt64)...)
		}
	}
	want := slices.Clone(in)
	slices.SortStableFunc(want, func(a, b sinks.Point) int {
		return strings.Compare(a.Path, b.Path)*4 + int(a.Resolution/60-b.Resolution/60)*2
	})
	if len(got) != len(want) {
		t.Fatalf("after reopening: %+v\nwant %+v", got, want)
	}
	for i := range want {
		if math.Float64bits(got[i].Min) != math.Float64bits(want[i].Min) || got[i].Path != want[i].Path ||
			got[i].Start != want[i].Start || got[i].Sum != want[i].Sum || got[i].Max != want[i].Max || got[i].Last != want[i].Last || got[i].Count != want[i].Count {
			t.Errorf("point %d after reopening: %+v, want %+v", i, got[i], want[i])
		}
	}
	if nodes := sinkstest.Find(t, s2, "a.b"); len(nodes) != 1 || !nodes[0].Leaf || !nodes[0].Branch {
		t.Errorf("Find(a.b) after reopening: %+v, want one leaf and branch", nodes)
	}
}

func TestSnapshotWithOtherRetentionsKeepsWhatFits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store.snap")
	clk := sinkstest.NewClock(t0 + 600)
	s, err := open("test", snapConfig(file), rets(t, "10s:1h", "1m:1d"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	var in []sinks.Point
	for i := range int64(60) {
		in = append(in, sinkstest.Point("m", 10, t0+10*i, float64(i)))
	}
	in = append(in, sinkstest.Point("only.minutes", 60, t0, 1))
	s.Write(in)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// Now 10 s bins are kept for 2 minutes only, and 1 m bins not at all.
	s2, err := open("test", snapConfig(file), rets(t, "10s:2m"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	got := sinkstest.Starts(sinkstest.Fetch(t, s2, "m", 10, 0, math.MaxInt64))
	var want []int64
	for st := int64(t0 + 480); st < t0+600; st += 10 {
		want = append(want, st)
	}
	if !slices.Equal(got, want) {
		t.Errorf("10s bins after reopening with 10s:2m: %v, want %v", got, want)
	}
	if n := s2.Series(); n != 1 {
		t.Errorf("%d series after reopening, want 1 (only.minutes has nothing that fits)", n)
	}
}

func TestSnapshotWrittenPeriodically(t *testing.T) {
	file := filepath.Join(t.TempDir(), "store.snap")
	c := snapConfig(file)
	c.SnapshotInterval = config.Duration{Duration: time.Second}
	clk := sinkstest.NewClock(t0)
	s := openStore(t, c, clk, "10s:1h")
	s.Write([]sinks.Point{sinkstest.Point("a", 10, t0, 1)})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no snapshot at %s 10 s after Open with snapshot_interval 1s", file)
		}
		time.Sleep(20 * time.Millisecond) // poll
	}
	// What the periodic snapshot holds loads on its own.
	s2, err := open("test", snapConfig(file), rets(t, "10s:1h"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(context.Background())
	if got := sinkstest.Fetch(t, s2, "a", 10, 0, math.MaxInt64); len(got) != 1 {
		t.Errorf("periodic snapshot holds %+v, want the one point", got)
	}
}

// goodSnapshot writes a small valid snapshot and returns its bytes.
func goodSnapshot(t *testing.T, file string) []byte {
	t.Helper()
	clk := sinkstest.NewClock(t0)
	s, err := open("test", snapConfig(file), rets(t, "10s:1h"), zap.NewNop(), clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	s.Write([]sinks.Point{sinkstest.Point("a.b", 10, t0, 1), sinkstest.Point("a.c", 10, t0, 2)})
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptSnapshotIsAnErrorNamingTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "store.snap")
	good := goodSnapshot(t, file)
	flipped := slices.Clone(good)
	flipped[len(snapMagic)+8] ^= 0x40
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a ringrelay memory snapshot"},
		{"not a snapshot", []byte("path\t10\t0\n"), "not a ringrelay memory snapshot"},
		{"truncated", good[:len(good)-7], "EOF"},
		{"flipped byte", flipped, ""},
		{"trailing data", append(slices.Clone(good), 0), "checksum"},
	} {
		if err := os.WriteFile(file, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := open("test", snapConfig(file), rets(t, "10s:1h"), zap.NewNop(), sinkstest.NewClock(t0).Now)
		if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Open = %v, want an error naming %s and saying %q", tc.name, err, file, tc.want)
		}
	}
	if _, err := open("test", snapConfig(dir), rets(t, "10s:1h"), zap.NewNop(), sinkstest.NewClock(t0).Now); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("a directory as the snapshot: Open = %v, want an error naming it", err)
	}
}

func TestSnapshotFailureIsCountedAndReported(t *testing.T) {
	file := filepath.Join(t.TempDir(), "gone", "store.snap") // its directory does not exist
	s, err := open("test", snapConfig(file), rets(t, "10s:1h"), zap.NewNop(), sinkstest.NewClock(t0).Now)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "store.snap") {
		t.Errorf("Close = %v, want an error naming the snapshot", err)
	}
	if st := s.Stats(); st.Errors != 1 {
		t.Errorf("stats %+v, want 1 error", st)
	}
}
