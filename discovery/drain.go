package discovery

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
)

// Draining takes a member out of every ring without stopping its backend.
//
// The operator (cmd/serverset drain) creates a persistent drain marker, a
// child of the serverset path named DrainMarkerPrefix + "HOST:PORT". No
// serverset reader takes it for a member: Finagle (zk2 and Group), Twitter's
// Python commons and our watcher read only `member_` children, and its data
// is plain text, not a JSON object, so readers that parse every child
// (Prometheus' serverset discovery) skip it as unparsable.
//
// The Registrar serving HOST:PORT watches its marker. While the marker
// exists (or its maintenance file does) it announces the member with status
// StatusDrained instead of ALIVE. Member data is immutable, so that is a new
// member created before the old one is deleted: the address never vanishes
// from a listing, yet every reader that routes only to ALIVE members (Finagle's
// zk2 resolver, our relay) drops it. Undrain deletes the marker and the
// registrar announces ALIVE again the same way.

// DrainMarkerPrefix starts the name of a drain marker znode.
const DrainMarkerPrefix = "drain-"

// StatusDrained is the status a drained member is announced with: a value
// of Finagle's thrift Status enum (STOPPING = 3), so Finagle's and Twitter's
// Python readers parse the member and skip it, where an unknown string would
// make the Python reader reject it outright.
const StatusDrained = "STOPPING"

// DrainMarkerName is the name of the drain marker of host:port.
func DrainMarkerName(e Endpoint) string {
	return DrainMarkerPrefix + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// ParseDrainMarkerName returns the endpoint a drain marker names; ok is
// false for any other child name.
func ParseDrainMarkerName(name string) (e Endpoint, ok bool) {
	rest, ok := strings.CutPrefix(name, DrainMarkerPrefix)
	if !ok {
		return Endpoint{}, false
	}
	e, err := ParseHostPort(rest)
	return e, err == nil
}

// ParseHostPort parses HOST:PORT (IPv6 hosts in brackets) with a port in
// 1..65535.
func ParseHostPort(s string) (Endpoint, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Endpoint{}, fmt.Errorf("failed to parse endpoint %q: want HOST:PORT", s)
	}
	p, err := strconv.Atoi(port)
	e := Endpoint{Host: host, Port: p}
	if err != nil {
		return Endpoint{}, fmt.Errorf("failed to parse endpoint %q: port %q is not a number", s, port)
	}
	if err := e.validate(); err != nil {
		return Endpoint{}, fmt.Errorf("failed to parse endpoint %q: %w", s, err)
	}
	return e, nil
}

// String is HOST:PORT.
func (e Endpoint) String() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// DrainMarkerPath is the drain marker of e under serverset path p.
func DrainMarkerPath(p string, e Endpoint) string { return path.Join(p, DrainMarkerName(e)) }

// MarshalWithStatus is Marshal with another status: the member as a
// drained registrar announces it (same bytes as Marshal but the status).
func (d MemberData) MarshalWithStatus(status string) ([]byte, error) {
	alive, err := d.Marshal() // validates and normalises as Finagle writes
	if err != nil {
		return nil, err
	}
	var out MemberData
	if err := json.Unmarshal(alive, &out); err != nil {
		return nil, fmt.Errorf("failed to re-read encoded member: %w", err)
	}
	out.Status = status
	return json.Marshal(out)
}

// Drain creates the drain marker of e under serverset path p (and p if it
// is missing) holding note, which should say who drained it and why; it
// must not be a JSON object (see the package comment on draining). It
// reports whether the marker was created (false: it existed already).
func Drain(conn *zk.Conn, p string, e Endpoint, note string) (created bool, err error) {
	if strings.HasPrefix(strings.TrimSpace(note), "{") {
		return false, fmt.Errorf("failed to drain %s: note %q looks like a JSON object, which serverset readers that parse every child would take for a member", e, note)
	}
	marker := DrainMarkerPath(p, e)
	_, err = conn.Create(marker, []byte(note), 0, zk.WorldACL(zk.PermAll))
	if errors.Is(err, zk.ErrNoNode) {
		if err = ensurePath(conn, p); err == nil {
			_, err = conn.Create(marker, []byte(note), 0, zk.WorldACL(zk.PermAll))
		}
	}
	switch {
	case errors.Is(err, zk.ErrNodeExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("failed to create drain marker %q: %w", marker, err)
	}
	return true, nil
}

// Undrain deletes the drain marker of e under p. It reports whether there
// was one.
func Undrain(conn *zk.Conn, p string, e Endpoint) (existed bool, err error) {
	marker := DrainMarkerPath(p, e)
	err = conn.Delete(marker, -1)
	switch {
	case errors.Is(err, zk.ErrNoNode):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("failed to delete drain marker %q: %w", marker, err)
	}
	return true, nil
}
