package discovery

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
)

// ChildKind says what a child of a serverset path is.
type ChildKind string

// The kinds of serverset children.
const (
	// KindMember is a member_<seq> znode (well-formed or not).
	KindMember ChildKind = "member"
	// KindDrainMarker is a drain marker (see DrainMarkerPrefix).
	KindDrainMarker ChildKind = "drain"
	// KindOther is anything else; every reader ignores it.
	KindOther ChildKind = "other"
)

// ListedChild is one child of a serverset path as an operator needs to see
// it: what it announces, who owns it, and what is wrong with it.
type ListedChild struct {
	// Name is the znode name, e.g. member_0000000042.
	Name string    `json:"znode"`
	Kind ChildKind `json:"kind"`
	// Ctime is when the znode was created; Owner its ephemeralOwner
	// session (0 for a persistent znode).
	Ctime time.Time `json:"ctime"`
	Owner int64     `json:"-"`
	// Member fields (KindMember); Host is "" and Port 0 when the member
	// has no usable serviceEndpoint, Status "" when it has none.
	Host       string              `json:"host,omitempty"`
	Port       int                 `json:"port,omitempty"`
	Additional map[string]Endpoint `json:"additional_endpoints,omitempty"`
	Shard      *int32              `json:"shard,omitempty"`
	Status     string              `json:"status,omitempty"`
	// Drained is set on a member whose host:port has a drain marker and on
	// a drain marker (KindDrainMarker, Host and Port are what it drains).
	Drained bool `json:"drained,omitempty"`
	// Data is the znode's data: a member's JSON, a drain marker's note.
	Data string `json:"data"`
	// Problems say why a child is flagged: a member that readers (some or
	// all) cannot use as written, or a child that is not a member at all.
	Problems []string `json:"problems,omitempty"`
}

// Usable reports whether a relay takes the member into a ring.
func (c ListedChild) Usable() bool {
	return c.Kind == KindMember && c.Status == StatusAlive && c.Host != "" && len(c.Problems) == 0
}

// ListServerset reads every child of serverset path p: members (flagged
// when malformed), drain markers, and other children (flagged: they are
// not members). It sorts them by name. A missing path is an error
// wrapping zk.ErrNoNode; a child that vanishes while being read is left
// out.
func ListServerset(conn *zk.Conn, p string) ([]ListedChild, error) {
	names, _, err := conn.Children(p)
	if err != nil {
		return nil, fmt.Errorf("failed to list serverset %q: %w", p, err)
	}
	slices.Sort(names)
	out := make([]ListedChild, 0, len(names))
	for _, name := range names {
		data, stat, err := conn.Get(path.Join(p, name))
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		c := ListedChild{Name: name, Kind: KindOther}
		if err != nil {
			if !errors.Is(err, zk.ErrNoAuth) {
				return nil, fmt.Errorf("failed to read %q: %w", path.Join(p, name), err)
			}
			c.Problems = append(c.Problems, "unreadable: its ACL does not let this client read it")
		} else {
			c.Ctime, c.Owner, c.Data = time.UnixMilli(stat.Ctime).UTC(), stat.EphemeralOwner, string(data)
		}
		switch e, isMarker := ParseDrainMarkerName(name); {
		case IsMemberName(name):
			c.Kind = KindMember
			if err == nil {
				describeMember(&c, data)
			}
		case isMarker:
			c.Kind, c.Host, c.Port, c.Drained = KindDrainMarker, e.Host, e.Port, true
		default:
			c.Problems = append(c.Problems, "not a member: the name is not member_<sequence>, so readers ignore it")
		}
		out = append(out, c)
	}
	markDrained(out)
	return out, nil
}

// describeMember fills in what member data announces and flags what some
// reader cannot use: Finagle drops endpoints whose port is not a JSON
// integer, Twitter's Python readers reject members lacking status,
// serviceEndpoint or additionalEndpoints, and everyone routes only to
// ALIVE members that are ephemeral (a persistent one outlives its backend).
func describeMember(c *ListedChild, data []byte) {
	pm, err := ParseMember(c.Name, data)
	if err != nil {
		c.Problems = append(c.Problems, "malformed: "+err.Error())
		return
	}
	var raw struct {
		ServiceEndpoint     json.RawMessage            `json:"serviceEndpoint"`
		AdditionalEndpoints map[string]json.RawMessage `json:"additionalEndpoints"`
		Status              json.RawMessage            `json:"status"`
		Shard               json.RawMessage            `json:"shard"`
	}
	_ = json.Unmarshal(data, &raw) // ParseMember accepted it: it is an object
	if pm.Service != nil {
		c.Host, c.Port = pm.Service.Host, pm.Service.Port
	} else {
		c.Problems = append(c.Problems, "malformed: serviceEndpoint missing or without a string host and an integer port in 1..65535")
	}
	c.Additional, c.Shard = pm.Additional, pm.Shard
	for name := range raw.AdditionalEndpoints {
		if _, ok := pm.Additional[name]; !ok {
			c.Problems = append(c.Problems, fmt.Sprintf("malformed: additional endpoint %q lacks a string host and an integer port in 1..65535", name))
		}
	}
	if raw.AdditionalEndpoints == nil {
		c.Problems = append(c.Problems, "malformed: no additionalEndpoints object (Twitter's Python readers reject the member)")
	}
	if len(raw.Shard) > 0 && !bytes.Equal(bytes.TrimSpace(raw.Shard), []byte("null")) && pm.Shard == nil {
		c.Problems = append(c.Problems, fmt.Sprintf("malformed: shard %s is not a 32-bit integer", raw.Shard))
	}
	_ = json.Unmarshal(raw.Status, &c.Status) // ParseMember accepted it: absent, null or a string
	if c.Status == "" {
		c.Problems = append(c.Problems, "malformed: no status (readers route only to ALIVE members)")
	}
	slices.Sort(c.Problems)
	if c.Owner == 0 {
		c.Problems = append(c.Problems, "persistent: not an ephemeral znode, so it outlives its backend")
	}
}

// markDrained sets Drained on members that a drain marker names.
func markDrained(children []ListedChild) {
	drained := map[Endpoint]bool{}
	for _, c := range children {
		if c.Kind == KindDrainMarker {
			drained[Endpoint{c.Host, c.Port}] = true
		}
	}
	for i, c := range children {
		if c.Kind == KindMember && drained[Endpoint{c.Host, c.Port}] {
			children[i].Drained = true
		}
	}
}
