package hashring

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The golden files under testdata/golden hold, for every key of
// testdata/keys.txt.gz, the member(s) the real peer picked (see
// testdata/gen.sh, which regenerates them, and testdata/VERSIONS).

// readGzipLines returns the lines of a gzip'd text file.
func readGzipLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("failed to read %s: %v", path, err)
	}
	var lines []string
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("failed to read %s: %v", path, err)
	}
	return lines
}

// readServers parses an oracle server list: host:port[=instance] per line.
func readServers(t testing.TB, path string) (members []Member, lines []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hp, inst, _ := strings.Cut(line, "=")
		i := strings.LastIndexByte(hp, ':')
		port, err := strconv.Atoi(hp[i+1:])
		if i < 0 || err != nil {
			t.Fatalf("%s: bad server %q", path, line)
		}
		members = append(members, Member{Host: hp[:i], Port: port, Instance: inst})
		lines = append(lines, line)
	}
	return members, lines
}

// goldenCase is a golden file name parsed:
// HASHER.COMPAT.SERVERS.rREPLICATION[.nodiverse][.pPARTITIONS].gz
type goldenCase struct {
	file    string
	cfg     Config
	servers string
}

func parseGoldenName(t testing.TB, file string) goldenCase {
	t.Helper()
	parts := strings.Split(strings.TrimSuffix(filepath.Base(file), ".gz"), ".")
	if len(parts) < 4 || !strings.HasPrefix(parts[3], "r") {
		t.Fatalf("golden file %s: name is not HASHER.COMPAT.SERVERS.rN[...].gz", file)
	}
	r, err := strconv.Atoi(parts[3][1:])
	if err != nil {
		t.Fatalf("golden file %s: %v", file, err)
	}
	gc := goldenCase{file: file, servers: parts[2], cfg: Config{Hasher: parts[0], Compat: parts[1], Replication: r}}
	for _, p := range parts[4:] {
		switch {
		case p == "nodiverse":
			off := false
			gc.cfg.DiverseReplicas = &off
		case strings.HasPrefix(p, "p"):
			gc.cfg.Partitions, err = strconv.Atoi(p[1:])
			if err != nil {
				t.Fatalf("golden file %s: %v", file, err)
			}
		default:
			t.Fatalf("golden file %s: unknown part %q", file, p)
		}
	}
	return gc
}

func goldenKeys(t testing.TB) []string {
	return readGzipLines(t, filepath.Join("testdata", "keys.txt.gz"))
}

func TestGolden(t *testing.T) {
	keys := goldenKeys(t)
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files (%v)", err)
	}
	covered := map[string]bool{}
	for _, file := range files {
		gc := parseGoldenName(t, file)
		covered[gc.cfg.Hasher+"/"+gc.cfg.Compat] = true
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			want := readGzipLines(t, file)
			if len(want) != len(keys) {
				t.Fatalf("%d lines, want one per key (%d)", len(want), len(keys))
			}
			members, lines := readServers(t, filepath.Join("testdata", "servers", gc.servers+".txt"))
			ring, err := New(gc.cfg, members)
			if err != nil {
				t.Fatalf("New(%+v): %v", gc.cfg, err)
			}
			bad := 0
			dst := make([]int, 0, 4)
			var sb strings.Builder
			for i, key := range keys {
				dst = ring.Lookup([]byte(key), dst)
				sb.Reset()
				for j, m := range dst {
					if j > 0 {
						sb.WriteByte(',')
					}
					sb.WriteString(lines[m])
				}
				if got := sb.String(); got != want[i] {
					bad++
					if bad <= 10 {
						t.Errorf("key %q (line %d): got %s, want %s", key, i+1, got, want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d keys differ", bad, len(keys))
			}
		})
	}
	t.Run("coverage", func(t *testing.T) {
		for _, h := range Hashers() {
			for _, c := range Compats(h) {
				if !covered[h+"/"+c] {
					t.Errorf("no golden file for hasher %s compat %s", h, c)
				}
			}
		}
	})
}
