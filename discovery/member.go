package discovery

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
)

// MemberPrefix is the name prefix of serverset member znodes; ZooKeeper
// appends a 10-digit sequence number (EPHEMERAL_SEQUENTIAL).
const MemberPrefix = "member_"

// StatusAlive is the only status a member is written with and the only one
// readers route to (Finagle's zk2 resolver ignores every other status).
const StatusAlive = "ALIVE"

// memberName is Finagle Group's filter: the prefix and a signed sequence
// number (ZooKeeper's counter goes negative after overflow).
var memberName = regexp.MustCompile(`^member_-?[0-9]+$`)

// IsMemberName reports whether a child of a serverset path is a member
// (`member_0000000042`, also `member_-2147483648`). Other children
// (vector_*, locks, leader nodes) are not members and are ignored.
func IsMemberName(name string) bool { return memberName.MatchString(name) }

// memberSeq is the sequence number in a member name, for ordering
// registrations by age; names that do not parse sort first.
func memberSeq(name string) int64 {
	n, err := strconv.ParseInt(name[len(MemberPrefix):], 10, 64)
	if err != nil {
		return -1 << 62
	}
	return n
}

// Endpoint is a host and port as a serverset member announces it.
type Endpoint struct {
	Host string `json:"host"`
	Port int    `json:"port"`
}

// MemberData is the JSON a serverset member znode holds: Twitter's thrift
// ServiceInstance as Finagle's Gson codec writes it.
type MemberData struct {
	ServiceEndpoint     Endpoint            `json:"serviceEndpoint"`
	AdditionalEndpoints map[string]Endpoint `json:"additionalEndpoints"`
	Status              string              `json:"status"`
	// Shard is omitted when unset.
	Shard *int32 `json:"shard,omitempty"`
	// Metadata is omitted when empty (newer Finagle only).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Marshal writes the member exactly as Finagle does: fields in the order
// serviceEndpoint, additionalEndpoints (always present, {} when empty),
// status, shard, metadata; compact; status always ALIVE (spec S2).
func (d MemberData) Marshal() ([]byte, error) {
	out := d
	out.Status = StatusAlive
	if out.AdditionalEndpoints == nil {
		out.AdditionalEndpoints = map[string]Endpoint{}
	}
	if len(out.Metadata) == 0 {
		out.Metadata = nil
	}
	for name, e := range out.AdditionalEndpoints {
		if err := e.validate(); err != nil {
			return nil, fmt.Errorf("failed to encode member: additional endpoint %q: %w", name, err)
		}
	}
	if err := out.ServiceEndpoint.validate(); err != nil {
		return nil, fmt.Errorf("failed to encode member: service endpoint: %w", err)
	}
	// encoding/json escapes < > & like Gson does; Gson also escapes = and ',
	// which every JSON reader decodes to the same string, so the bytes may
	// differ from Gson's only in those two escapes.
	return json.Marshal(out)
}

func (e Endpoint) validate() error {
	if e.Host == "" {
		return fmt.Errorf("empty host")
	}
	if e.Port < 1 || e.Port > 65535 {
		return fmt.Errorf("port %d is not in 1..65535", e.Port)
	}
	return nil
}

// SkipReason says why a member znode contributes nothing to a pool.
type SkipReason string

// Reasons a member is skipped; they label the skipped-members counter.
const (
	SkipInvalidJSON   SkipReason = "invalid_json"
	SkipNotAlive      SkipReason = "not_alive"
	SkipNoEndpoint    SkipReason = "no_endpoint"
	SkipBadEndpoint   SkipReason = "bad_endpoint"
	SkipShardMismatch SkipReason = "shard_mismatch"
	SkipNoInstance    SkipReason = "no_instance"
	SkipFetchNoNode   SkipReason = "vanished"
	// SkipUnreadable is a member whose ACL does not let the relay read it.
	SkipUnreadable SkipReason = "unreadable"
	// SkipNoScheme is a member of a pool with member_scheme "endpoint" whose
	// endpoint name says neither tcp nor udp.
	SkipNoScheme SkipReason = "endpoint_names_no_scheme"
)

// SkipReasons lists every SkipReason, for binding metric labels once.
var SkipReasons = [...]SkipReason{SkipInvalidJSON, SkipNotAlive, SkipNoEndpoint, SkipBadEndpoint, SkipShardMismatch, SkipNoInstance, SkipFetchNoNode, SkipUnreadable, SkipNoScheme}

// rawMember decodes leniently: unknown fields are ignored, and ports and
// shards are kept raw so that a non-integer only drops what it belongs to
// (Finagle's Entry.scala does the same).
type rawMember struct {
	ServiceEndpoint     json.RawMessage            `json:"serviceEndpoint"`
	AdditionalEndpoints map[string]json.RawMessage `json:"additionalEndpoints"`
	Status              *string                    `json:"status"`
	Shard               json.RawMessage            `json:"shard"`
	Metadata            map[string]json.RawMessage `json:"metadata"`
}

// ParsedMember is a member znode as a reader sees it.
type ParsedMember struct {
	// Name is the znode name (member_NNNNNNNNNN).
	Name string
	// Alive is true when status is exactly "ALIVE".
	Alive bool
	// Service is nil when serviceEndpoint is missing or malformed.
	Service *Endpoint
	// Additional holds the well-formed additional endpoints.
	Additional map[string]Endpoint
	// Shard is nil when absent or not a JSON integer.
	Shard *int32
	// Metadata holds the string-valued metadata entries.
	Metadata map[string]string
}

// ParseMember decodes a member znode's data. Readers must not depend on key
// order or whitespace; unknown fields are ignored; an endpoint whose host is
// not a string or whose port is not a JSON integer in 1..65535 is dropped,
// not the whole member. Only data that is not a JSON object is an error.
func ParseMember(name string, data []byte) (ParsedMember, error) {
	pm := ParsedMember{Name: name}
	var raw rawMember
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return pm, fmt.Errorf("failed to decode member %q: %w", name, err)
	}
	if dec.More() {
		return pm, fmt.Errorf("failed to decode member %q: trailing data after the JSON object", name)
	}
	pm.Alive = raw.Status != nil && *raw.Status == StatusAlive
	if e, ok := parseEndpoint(raw.ServiceEndpoint); ok {
		pm.Service = &e
	}
	for k, v := range raw.AdditionalEndpoints {
		if e, ok := parseEndpoint(v); ok {
			if pm.Additional == nil {
				pm.Additional = map[string]Endpoint{}
			}
			pm.Additional[k] = e
		}
	}
	if len(raw.Shard) > 0 {
		var n int32
		if isJSONInteger(raw.Shard) && json.Unmarshal(raw.Shard, &n) == nil {
			pm.Shard = &n
		}
	}
	for k, v := range raw.Metadata {
		var s string
		if json.Unmarshal(v, &s) == nil {
			if pm.Metadata == nil {
				pm.Metadata = map[string]string{}
			}
			pm.Metadata[k] = s
		}
	}
	return pm, nil
}

func parseEndpoint(raw json.RawMessage) (Endpoint, bool) {
	if len(raw) == 0 {
		return Endpoint{}, false
	}
	var e struct {
		Host *string         `json:"host"`
		Port json.RawMessage `json:"port"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Host == nil || *e.Host == "" || !isJSONInteger(e.Port) {
		return Endpoint{}, false
	}
	p, err := strconv.Atoi(string(e.Port))
	if err != nil || p < 1 || p > 65535 {
		return Endpoint{}, false
	}
	return Endpoint{Host: *e.Host, Port: p}, true
}

// isJSONInteger accepts only an optional minus and digits: "8080" (a
// string), 8080.0 and 8e3 are not integers to Finagle.
func isJSONInteger(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	if len(s) > 0 && s[0] == '-' {
		s = s[1:]
	}
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
