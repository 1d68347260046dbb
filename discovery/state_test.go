package discovery

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestStore(t *testing.T) *StateStore {
	t.Helper()
	st, err := NewStateStore(filepath.Join(t.TempDir(), "state", "nested"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestStateStoreRoundTrip(t *testing.T) {
	st := newTestStore(t)
	at := time.Date(2024, 6, 11, 12, 30, 0, 123456789, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name    string
		servers []Server
	}{
		{"tcp", srvs("10.0.0.1:2003", "10.0.0.2:2004")},
		{"instances", srvs("10.0.0.1:2003=1", "h.example:2003=a-b.c", "[::1]:2003=10")},
		{"udp and unix", srvs("udp://10.0.0.1:8125", "unix:///run/carbon.sock=x")},
		{"raw kept", []Server{{Proto: "tcp", Host: "h", Port: 1, Raw: "tcp://h:1"}}},
		{"empty", []Server{}},
	} {
		if err := st.Save("pool."+tc.name, "/ss/"+tc.name, tc.servers, at); err != nil {
			t.Fatalf("%s: Save = %v", tc.name, err)
		}
		got, savedAt, ok, err := st.Load("pool."+tc.name, "/ss/"+tc.name)
		if err != nil || !ok || !slices.Equal(got, tc.servers) || !savedAt.Equal(at) {
			t.Errorf("%s: Load = %+v, %v, %v, %v; want %+v, %v, true, nil", tc.name, got, savedAt, ok, err, tc.servers, at)
		}
	}
	// A second save replaces the first.
	if err := st.Save("pool.tcp", "/ss/tcp", srvs("10.0.0.3:1"), at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, savedAt, ok, err := st.Load("pool.tcp", "/ss/tcp"); err != nil || !ok || !slices.Equal(got, srvs("10.0.0.3:1")) || !savedAt.Equal(at.Add(time.Hour)) {
		t.Errorf("Load after a second Save = %+v, %v, %v, %v", got, savedAt, ok, err)
	}
	// Nothing but the pools' files is left behind (no temp files).
	entries, err := os.ReadDir(st.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "pool-") || !strings.HasSuffix(e.Name(), ".json") {
			t.Errorf("unexpected file %q in the state directory", e.Name())
		}
	}
}

func TestStateStoreLoadNotOurs(t *testing.T) {
	st := newTestStore(t)
	for _, tc := range []struct{ what, pool, serverset string }{
		{"no file", "other", "/ss"},
		{"another serverset", "p", "/ss/new"},
		{"a parent serverset", "p", "/ss"},
	} {
		if tc.what != "no file" {
			if err := st.Save("p", "/ss/old", srvs("h:1"), time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if got, _, ok, err := st.Load(tc.pool, tc.serverset); ok || err != nil || got != nil {
			t.Errorf("%s: Load(%q, %q) = %v, %v, %v; want nothing, no error", tc.what, tc.pool, tc.serverset, got, ok, err)
		}
	}
}

// TestStateStoreFileNames: distinct pool names get distinct files inside
// the directory, whatever their bytes.
func TestStateStoreFileNames(t *testing.T) {
	st := newTestStore(t)
	names := []string{"carbon", "Carbon", "a.b", "a_b", "a-b", ".", "..", "", "%2E", "a%b", "ä", "a:b", `a\b`}
	files := map[string]string{}
	for _, name := range names {
		p := st.path(name)
		if filepath.Dir(p) != st.dir {
			t.Errorf("path(%q) = %q, outside %q", name, p, st.dir)
		}
		if other, dup := files[p]; dup {
			t.Errorf("path(%q) = path(%q) = %q", name, other, p)
		}
		files[p] = name
		if err := st.Save(name, "/ss", srvs("h:1"), time.Now()); err != nil {
			t.Errorf("Save(%q) = %v", name, err)
		}
	}
	for _, name := range names {
		if _, _, ok, err := st.Load(name, "/ss"); !ok || err != nil {
			t.Errorf("Load(%q) = %v, %v", name, ok, err)
		}
	}
}

func TestStateStoreLoadCorrupt(t *testing.T) {
	st := newTestStore(t)
	good := `{"version":1,"pool":"p","serverset":"/ss","saved_at":"2024-06-11T12:00:00Z","servers":[%s]}`
	for _, tc := range []struct{ data, err string }{
		{data: ``, err: "unexpected end of JSON"},
		{data: `{"version":1,"pool":"p",`, err: "unexpected end of JSON"},
		{data: `[]`, err: "cannot unmarshal"},
		{data: `{"version":2,"pool":"p","serverset":"/ss"}`, err: "version 2"},
		{data: `{"pool":"p","serverset":"/ss"}`, err: "version 0"},
		{data: strings.Replace(good, "%s", `{"proto":"tcp","host":"h","port":0}`, 1), err: "not a valid server"},
		{data: strings.Replace(good, "%s", `{"proto":"sctp","host":"h","port":1}`, 1), err: "not a valid server"},
		{data: strings.Replace(good, "%s", `{"proto":"tcp","host":"","port":1}`, 1), err: "not a valid server"},
		{data: strings.Replace(good, "%s", `{"proto":"tcp","host":"h","port":1,"instance":"a b"}`, 1), err: "not a valid server"},
		{data: strings.Replace(good, "%s", `{"proto":"tcp","host":"h","port":"1"}`, 1), err: "cannot unmarshal"},
		{data: strings.Replace(strings.Replace(good, "%s", "", 1), "2024-06-11T12:00:00Z", "yesterday", 1), err: "cannot parse"},
	} {
		if err := os.WriteFile(st.path("p"), []byte(tc.data), 0o644); err != nil {
			t.Fatal(err)
		}
		got, _, ok, err := st.Load("p", "/ss")
		if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), st.path("p")) || ok || got != nil {
			t.Errorf("Load of %q = %v, %v, %v; want an error naming the file and containing %q", tc.data, got, ok, err, tc.err)
		}
	}
	if err := os.WriteFile(st.path("p"), []byte(strings.Replace(good, "%s", "", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := st.Load("p", "/ss"); !ok || err != nil {
		t.Errorf("Load of the well-formed file = %v, %v", ok, err)
	}
}

func TestNewStateStoreErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"", file, filepath.Join(file, "sub")} {
		if _, err := NewStateStore(d); err == nil || !strings.Contains(err.Error(), `"`+d+`"`) {
			t.Errorf("NewStateStore(%q) = %v, want an error naming the directory", d, err)
		}
	}
	st, err := NewStateStore(filepath.Join(dir, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(st.dir); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("state directory: %v, %v; want a 0755 directory", fi, err)
	}
	// A directory that went away: Save fails with an error naming the file.
	if err := os.RemoveAll(st.dir); err != nil {
		t.Fatal(err)
	}
	if err := st.Save("p", "/ss", srvs("h:1"), time.Now()); err == nil || !strings.Contains(err.Error(), st.path("p")) {
		t.Errorf("Save into a removed directory = %v, want an error naming %q", err, st.path("p"))
	}
}

// TestStateStoreConcurrentPools: pools saving and loading at the same time
// do not disturb each other.
func TestStateStoreConcurrentPools(t *testing.T) {
	st := newTestStore(t)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool := string(rune('a' + g))
			for i := range 20 {
				want := srvs("h:1", "h:"+string(rune('2'+i%8)))
				if err := st.Save(pool, "/ss", want, time.Now()); err != nil {
					t.Error(err)
					return
				}
				if got, _, ok, err := st.Load(pool, "/ss"); err != nil || !ok || !slices.Equal(got, want) {
					t.Errorf("pool %s: Load = %v, %v, %v; want %v", pool, got, ok, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}
