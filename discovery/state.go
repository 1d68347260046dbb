package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateStore keeps each pool's last-known-good serverset membership on
// disk, so that a relay restarted while ZooKeeper is unreachable starts on
// the members it last routed to (Membership's Seed) instead of its static
// servers. It holds one JSON file per pool in one directory, replaced
// atomically on every save, so a crash leaves the old file or the new one,
// never a torn one.
//
// A StateStore is safe for concurrent use by several pools' Memberships;
// saves of one pool must not run concurrently (a Membership serialises its
// own). It holds no open files.
type StateStore struct {
	dir string
}

// stateVersion is the file format's version; Load refuses others.
const stateVersion = 1

// stateFile is the JSON of one pool's file.
type stateFile struct {
	Version   int           `json:"version"`
	Pool      string        `json:"pool"`
	Serverset string        `json:"serverset"`
	SavedAt   time.Time     `json:"saved_at"`
	Servers   []stateServer `json:"servers"`
}

// stateServer is a Server field by field, so that every field round-trips.
type stateServer struct {
	Proto    string `json:"proto"`
	Host     string `json:"host"`
	Port     int    `json:"port,omitempty"`
	Instance string `json:"instance,omitempty"`
	Raw      string `json:"raw,omitempty"`
}

// NewStateStore returns a store in dir, creating the directory (mode 0755,
// with its parents) if it is missing.
func NewStateStore(dir string) (*StateStore, error) {
	if dir == "" {
		return nil, errors.New(`failed to open state directory "": empty path`)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create state directory %q: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("failed to open state directory %q: %w", dir, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("failed to open state directory %q: not a directory", dir)
	}
	return &StateStore{dir: dir}, nil
}

// path returns the file that holds pool's membership: "pool-NAME.json" in
// the store's directory, with every byte of the name other than ASCII
// letters, digits, '.', '_' and '-' written as %XX (so distinct pools never
// share a file and no name leaves the directory).
func (st *StateStore) path(pool string) string {
	var b strings.Builder
	b.WriteString("pool-")
	for i := 0; i < len(pool); i++ {
		c := pool[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString(".json")
	return filepath.Join(st.dir, b.String())
}

// Load returns the membership last saved for pool and the time it was
// saved. ok is false (with a nil error) when there is no file, or the file
// was saved for another serverset path than serverset (the pool follows
// another one now). A file that cannot be read or decoded, or holds a
// server that would not parse, is an error naming the file.
func (st *StateStore) Load(pool, serverset string) (servers []Server, savedAt time.Time, ok bool, err error) {
	path := st.path(pool)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("failed to load membership of pool %q: %w", pool, err)
	}
	fail := func(format string, args ...any) ([]Server, time.Time, bool, error) {
		return nil, time.Time{}, false, fmt.Errorf("failed to load membership of pool %q from %q: %s", pool, path, fmt.Sprintf(format, args...))
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fail("%v", err)
	}
	if f.Version != stateVersion {
		return fail("version %d, want %d", f.Version, stateVersion)
	}
	if f.Pool != pool || f.Serverset != serverset {
		return nil, time.Time{}, false, nil
	}
	servers = make([]Server, 0, len(f.Servers))
	for i, s := range f.Servers {
		srv := Server{Proto: s.Proto, Host: s.Host, Port: s.Port, Instance: s.Instance, Raw: s.Raw}
		// The same check Select makes: a server the relay could not show
		// and parse back is not one it can route to.
		back, err := ParseServer(srv.String())
		if err != nil || back.ID() != srv.ID() {
			return fail("server %d %+v is not a valid server", i, s)
		}
		servers = append(servers, srv)
	}
	return servers, f.SavedAt, true, nil
}

// Save replaces pool's file with servers, saved for serverset at time at.
// It writes a temporary file in the same directory, syncs it, renames it
// over the old file and syncs the directory, so after a crash the file is
// either the old one or the new one.
func (st *StateStore) Save(pool, serverset string, servers []Server, at time.Time) error {
	f := stateFile{Version: stateVersion, Pool: pool, Serverset: serverset, SavedAt: at,
		Servers: make([]stateServer, len(servers))}
	for i, s := range servers {
		f.Servers[i] = stateServer{Proto: s.Proto, Host: s.Host, Port: s.Port, Instance: s.Instance, Raw: s.Raw}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode membership of pool %q: %w", pool, err)
	}
	data = append(data, '\n')
	path := st.path(pool)
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("failed to save membership of pool %q to %q: %w", pool, path, err)
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file, fsync, rename, fsync
// of the directory. The temp file is removed on failure.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	err = tmp.Chmod(0o644)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
