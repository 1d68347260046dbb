package cqltest

import (
	"crypto/rand"
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// maxTTL is Cassandra's limit on a TTL: 20 years, in seconds.
const maxTTL = 630720000

// store holds the keyspaces, tables and rows; it outlives restarts of the
// listener, as a node's data outlives a restart of the node.
type store struct {
	now func() time.Time

	mu            sync.Mutex
	keyspaces     map[string]bool
	tables        map[string]*table // by "ks.name"
	schemaVersion []byte            // a uuid, new at every schema change
}

type table struct {
	ks, name   string
	cols       []column
	colIdx     map[string]int
	partition  []int // column indexes
	clustering []int
	parts      map[string]*partition
}

type partition struct {
	key  [][]byte
	rows []*row // ordered by clustering values
}

// row is a CQL row: its clustering values, the row marker an INSERT
// writes and its regular cells, each with its own expiry.
type row struct {
	ck     [][]byte
	marker cell // v unused; live when set
	cells  map[int]cell
}

// cell is a written value; expires is the unix second from which it is
// gone (0: never), set is false for a cell never written or deleted.
type cell struct {
	v       []byte
	expires int64
	set     bool
}

func (c cell) live(now int64) bool { return c.set && (c.expires == 0 || now < c.expires) }

// systemSchema are the system tables gocql reads when it connects.
var systemSchema = []string{
	`CREATE TABLE system.local (key text PRIMARY KEY, bootstrapped text, broadcast_address inet,
		cluster_name text, cql_version text, data_center text, host_id uuid, listen_address inet,
		partitioner text, rack text, release_version text, rpc_address inet, schema_version uuid)`,
	`CREATE TABLE system.peers (peer inet PRIMARY KEY, data_center text, host_id uuid,
		preferred_ip inet, rack text, release_version text, rpc_address inet, schema_version uuid)`,
	`CREATE TABLE system_schema.keyspaces (keyspace_name text PRIMARY KEY, durable_writes boolean)`,
	`CREATE TABLE system_schema.tables (keyspace_name text, table_name text, PRIMARY KEY (keyspace_name, table_name))`,
}

func newStore(now func() time.Time, ip []byte) *store {
	s := &store{now: now, keyspaces: map[string]bool{"system": true, "system_schema": true}, tables: map[string]*table{}}
	for _, text := range systemSchema {
		st, err := parse(text)
		if err != nil {
			panic("cqltest: system schema: " + err.msg)
		}
		if _, err := s.createTable(st.(createTable)); err != nil {
			panic("cqltest: system schema: " + err.msg)
		}
	}
	s.put("system.local", map[string][]byte{
		"key": []byte("local"), "bootstrapped": []byte("COMPLETED"), "broadcast_address": ip,
		"cluster_name": []byte("cqltest"), "cql_version": []byte("3.4.4"), "data_center": []byte("datacenter1"),
		"host_id": newUUID(), "listen_address": ip, "partitioner": []byte("org.apache.cassandra.dht.Murmur3Partitioner"),
		"rack": []byte("rack1"), "release_version": []byte("3.11.16"), "rpc_address": ip, "schema_version": s.schemaVersion,
	})
	return s
}

func newUUID() []byte {
	u := make([]byte, 16)
	rand.Read(u)
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80
	return u
}

func (s *store) nowSec() int64 { return s.now().Unix() }

// put writes a row of encoded values with no TTL (system tables).
func (s *store) put(name string, vals map[string][]byte) {
	t := s.tables[name]
	cells := map[int]cell{}
	for col, v := range vals {
		cells[t.colIdx[col]] = cell{v: v, set: true}
	}
	t.upsert(cells, 0)
}

// schemaChanged gives the schema a new version, in system.local too.
func (s *store) schemaChanged() {
	s.schemaVersion = newUUID()
	if t := s.tables["system.local"]; t != nil {
		for _, p := range t.parts {
			for _, r := range p.rows {
				r.cells[t.colIdx["schema_version"]] = cell{v: s.schemaVersion, set: true}
			}
		}
	}
}

func (s *store) table(ks, name string) (*table, *cqlError) {
	if !s.keyspaces[ks] {
		return nil, invalidError("Keyspace %s does not exist", ks)
	}
	t := s.tables[ks+"."+name]
	if t == nil {
		return nil, invalidError("unconfigured table %s", name)
	}
	return t, nil
}

func (s *store) createKeyspace(st createKeyspace) (*result, *cqlError) {
	if s.keyspaces[st.name] {
		if st.ifNotExists {
			return &result{kind: resultVoid}, nil
		}
		var w writer
		w.string(st.name)
		w.string("")
		return nil, &cqlError{code: 0x2400, msg: "Keyspace " + st.name + " already exists", extra: w.b}
	}
	s.keyspaces[st.name] = true
	s.put("system_schema.keyspaces", map[string][]byte{"keyspace_name": []byte(st.name), "durable_writes": {1}})
	s.schemaChanged()
	return &result{kind: resultSchemaChange, change: "CREATED", target: "KEYSPACE", keyspace: st.name}, nil
}

// dropKeyspace removes a keyspace with its tables and their rows.
func (s *store) dropKeyspace(st dropKeyspace) (*result, *cqlError) {
	if !s.keyspaces[st.name] {
		if st.ifExists {
			return &result{kind: resultVoid}, nil
		}
		return nil, invalidError("Cannot drop non existing keyspace '%s'.", st.name)
	}
	if strings.HasPrefix(st.name, "system") {
		return nil, &cqlError{code: 0x2100, msg: "Cannot DROP <keyspace " + st.name + ">"}
	}
	delete(s.keyspaces, st.name)
	for key, t := range s.tables {
		if t.ks == st.name {
			delete(s.tables, key)
		}
	}
	for _, name := range []string{"system_schema.keyspaces", "system_schema.tables"} {
		delete(s.tables[name].parts, encodeKey([][]byte{[]byte(st.name)}))
	}
	s.schemaChanged()
	return &result{kind: resultSchemaChange, change: "DROPPED", target: "KEYSPACE", keyspace: st.name}, nil
}

func (s *store) createTable(st createTable) (*result, *cqlError) {
	if !s.keyspaces[st.ks] {
		return nil, invalidError("Cannot add table '%s' to non existing keyspace '%s'.", st.name, st.ks)
	}
	key := st.ks + "." + st.name
	if s.tables[key] != nil {
		if st.ifNotExists {
			return &result{kind: resultVoid}, nil
		}
		var w writer
		w.string(st.ks)
		w.string(st.name)
		return nil, &cqlError{code: 0x2400, msg: "Table " + key + " already exists", extra: w.b}
	}
	t := &table{ks: st.ks, name: st.name, cols: st.cols, colIdx: map[string]int{}, parts: map[string]*partition{}}
	for i, c := range st.cols {
		if _, dup := t.colIdx[c.name]; dup {
			return nil, invalidError("Multiple definition of identifier %s", c.name)
		}
		t.colIdx[c.name] = i
	}
	for _, names := range []struct {
		names []string
		dst   *[]int
	}{{st.partition, &t.partition}, {st.clustering, &t.clustering}} {
		for _, n := range names.names {
			i, ok := t.colIdx[n]
			if !ok {
				return nil, invalidError("Unknown definition %s referenced in PRIMARY KEY", n)
			}
			*names.dst = append(*names.dst, i)
		}
	}
	s.tables[key] = t
	if st.ks != "system" && st.ks != "system_schema" {
		s.put("system_schema.tables", map[string][]byte{"keyspace_name": []byte(st.ks), "table_name": []byte(st.name)})
	}
	s.schemaChanged()
	return &result{kind: resultSchemaChange, change: "CREATED", target: "TABLE", keyspace: st.ks, object: st.name}, nil
}

func (t *table) isKey(i int) bool {
	return slices.Contains(t.partition, i) || slices.Contains(t.clustering, i)
}

// upsert writes cells (by column index; key columns included) as an
// INSERT does: the row marker and every given cell expire at the unix
// second expires (0: never); a cell not given is left alone, one given as
// null is deleted. It returns the partition's key.
func (t *table) upsert(cells map[int]cell, expires int64) (pkey string) {
	pk := make([][]byte, len(t.partition))
	for i, c := range t.partition {
		pk[i] = cells[c].v
	}
	pkey = encodeKey(pk)
	p := t.parts[pkey]
	if p == nil {
		p = &partition{key: pk}
		t.parts[pkey] = p
	}
	ck := make([][]byte, len(t.clustering))
	for i, c := range t.clustering {
		ck[i] = cells[c].v
	}
	at, found := sort.Find(len(p.rows), func(i int) int { return t.compareClustering(ck, p.rows[i].ck) })
	if !found {
		p.rows = slices.Insert(p.rows, at, &row{ck: ck, cells: map[int]cell{}})
	}
	r := p.rows[at]
	r.marker = cell{expires: expires, set: true}
	for i, c := range cells {
		if t.isKey(i) {
			continue
		}
		if c.set {
			c.expires = expires
		}
		r.cells[i] = c
	}
	return pkey
}

func (t *table) compareClustering(a, b [][]byte) int {
	for i, c := range t.clustering {
		if d := t.cols[c].typ.compare(a[i], b[i]); d != 0 {
			return d
		}
	}
	return 0
}

// encodeKey makes a map key of a partition key's values.
func encodeKey(vals [][]byte) string {
	var b []byte
	for _, v := range vals {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	return string(b)
}

// live reports whether a row is visible: its marker or a cell is alive.
func (r *row) live(now int64) bool {
	if r.marker.live(now) {
		return true
	}
	for _, c := range r.cells {
		if c.live(now) {
			return true
		}
	}
	return false
}

// value is column i's value in r (nil: null).
func (t *table) value(p *partition, r *row, i int, now int64) []byte {
	if k := slices.Index(t.partition, i); k >= 0 {
		return p.key[k]
	}
	if k := slices.Index(t.clustering, i); k >= 0 {
		return r.ck[k]
	}
	if c := r.cells[i]; c.live(now) {
		return c.v
	}
	return nil
}

// partitionsInOrder are the table's partitions, ordered by their key bytes
// (a stand-in for token order) for full scans.
func (t *table) partitionsInOrder() []*partition {
	keys := make([]string, 0, len(t.parts))
	for k := range t.parts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*partition, len(keys))
	for i, k := range keys {
		out[i] = t.parts[k]
	}
	return out
}

// purge drops a partition's expired rows when it is read, so that memory
// follows the live data (as compaction would).
func (t *table) purge(p *partition, now int64) {
	p.rows = slices.DeleteFunc(p.rows, func(r *row) bool { return !r.live(now) })
	if len(p.rows) == 0 {
		delete(t.parts, encodeKey(p.key))
	}
}

// tableNames are the user tables, "ks.name", sorted.
func (s *store) tableNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, t := range s.tables {
		if t.ks != "system" && t.ks != "system_schema" {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// keyspaceNames are the user keyspaces, sorted.
func (s *store) keyspaceNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.keyspaces {
		if !strings.HasPrefix(k, "system") {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// liveRows counts the visible rows of table "ks.name".
func (s *store) liveRows(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return 0
	}
	now := s.nowSec()
	n := 0
	for _, p := range t.parts {
		for _, r := range p.rows {
			if r.live(now) {
				n++
			}
		}
	}
	return n
}
