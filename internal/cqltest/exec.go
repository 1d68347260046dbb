package cqltest

import (
	"crypto/md5"
	"encoding/binary"
	"slices"
)

// prepared is a statement checked against the schema: what its markers
// bind (the PREPARE answer's metadata) and what its rows hold.
type prepared struct {
	id        []byte
	text      string
	st        statement
	ks, table string
	binds     []column // one per marker, in order
	pkIdx     []int    // markers binding the partition key, in key order
	result    []column // the SELECT's columns
	write     bool     // INSERT: subject to the write delay and failures
}

// compile checks a parsed statement against the schema.
func (s *store) compile(text string) (*prepared, *cqlError) {
	st, err := parse(text)
	if err != nil {
		return nil, err
	}
	sum := md5.Sum([]byte(text))
	p := &prepared{id: sum[:], text: text, st: st}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st := st.(type) {
	case insertStmt:
		return p, s.compileInsert(p, st)
	case selectStmt:
		return p, s.compileSelect(p, st)
	}
	return p, nil
}

func (s *store) compileInsert(p *prepared, st insertStmt) *cqlError {
	t, err := s.table(st.ks, st.table)
	if err != nil {
		return err
	}
	p.ks, p.table, p.write = st.ks, st.table, true
	p.binds = make([]column, 0, len(st.values)+1)
	given := map[int]term{}
	for i, name := range st.cols {
		c, ok := t.colIdx[name]
		if !ok {
			return invalidError("Undefined column name %s in table %s.%s", name, st.ks, st.table)
		}
		given[c] = st.values[i]
		if st.values[i].marker >= 0 {
			p.binds = append(p.binds, t.cols[c])
		}
	}
	for _, keys := range [][]int{t.partition, t.clustering} {
		for _, c := range keys {
			if _, ok := given[c]; !ok {
				return invalidError("Some primary key parts are missing: %s", t.cols[c].name)
			}
		}
	}
	if st.ttl != nil && st.ttl.marker >= 0 {
		p.binds = append(p.binds, column{"[ttl]", mustType("int")})
	}
	p.pkIdx = markersOf(t.partition, given)
	return nil
}

func (s *store) compileSelect(p *prepared, st selectStmt) *cqlError {
	t, err := s.table(st.ks, st.table)
	if err != nil {
		return err
	}
	p.ks, p.table = st.ks, st.table
	if st.cols == nil {
		p.result = t.cols
	}
	for _, name := range st.cols {
		c, ok := t.colIdx[name]
		if !ok {
			return invalidError("Undefined column name %s in table %s.%s", name, st.ks, st.table)
		}
		p.result = append(p.result, t.cols[c])
	}
	eq := map[int]term{}
	for _, r := range st.where {
		c, ok := t.colIdx[r.col]
		if !ok {
			return invalidError("Undefined column name %s in table %s.%s", r.col, st.ks, st.table)
		}
		switch {
		case slices.Contains(t.partition, c):
			if r.op != "=" {
				return invalidError("Only EQ relations are supported on the partition key %s (the stand-in has no token() or IN)", r.col)
			}
			eq[c] = r.val
		case !slices.Contains(t.clustering, c):
			return invalidError("Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING")
		}
		if r.val.marker >= 0 {
			p.binds = append(p.binds, t.cols[c])
		}
	}
	if len(st.where) > 0 && len(eq) != len(t.partition) {
		return invalidError("Cannot execute this query as it might involve data filtering and thus may have unpredictable performance. If you want to execute this query despite the performance unpredictability, use ALLOW FILTERING")
	}
	if st.limit != nil && st.limit.marker >= 0 {
		p.binds = append(p.binds, column{"[limit]", mustType("int")})
	}
	p.pkIdx = markersOf(t.partition, eq)
	return nil
}

// markersOf are the marker indexes binding the key columns, or nil when a
// literal binds one of them.
func markersOf(key []int, given map[int]term) []int {
	var out []int
	for _, c := range key {
		m := given[c].marker
		if m < 0 {
			return nil
		}
		out = append(out, m)
	}
	return out
}

func mustType(name string) cqlType {
	t, ok := typeNamed(name)
	if !ok {
		panic("cqltest: unknown type " + name)
	}
	return t
}

// result is what a statement answers.
type result struct {
	kind int
	// rows
	ks, table string
	cols      []column
	rows      [][][]byte
	more      []byte // paging state when more rows follow
	// schema change
	change, target, keyspace, object string
}

// bound resolves a term: the marker's value, or the literal encoded for
// col.
func bound(tm term, col column, vals []value) (value, *cqlError) {
	if tm.marker >= 0 {
		v := vals[tm.marker]
		if !v.null && !v.unset {
			if err := col.typ.check(col.name, v.b); err != nil {
				return value{}, err
			}
		}
		return v, nil
	}
	if tm.lit.kind == tkIdent && tm.lit.text == "null" {
		return value{null: true}, nil
	}
	b, err := col.typ.literal(col.name, tm.lit)
	return value{b: b}, err
}

// run executes a compiled statement with its bound values.
func (s *store) run(p *prepared, vals []value, page queryParams) (res *result, err *cqlError) {
	if len(p.binds) != len(vals) {
		return nil, invalidError("There were %d markers(?) in CQL but %d bound variables", len(p.binds), len(vals))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st := p.st.(type) {
	case createKeyspace:
		res, err = s.createKeyspace(st)
	case dropKeyspace:
		res, err = s.dropKeyspace(st)
	case createTable:
		res, err = s.createTable(st)
	case insertStmt:
		var m *mutation
		if m, err = s.bindInsert(st, vals); err == nil {
			m.apply()
			res = &result{kind: resultVoid}
		}
	case selectStmt:
		res, err = s.selectRows(p, st, vals, page)
	}
	return res, err
}

// mutation is an INSERT checked and bound, ready to apply.
type mutation struct {
	t       *table
	cells   map[int]cell
	expires int64
}

func (m *mutation) apply() (pkey string) { return m.t.upsert(m.cells, m.expires) }

// bindInsert checks an INSERT's values and binds them; nothing is written.
func (s *store) bindInsert(st insertStmt, vals []value) (*mutation, *cqlError) {
	t, err := s.table(st.ks, st.table)
	if err != nil {
		return nil, err
	}
	cells := map[int]cell{}
	for i, name := range st.cols {
		c := t.colIdx[name]
		v, err := bound(st.values[i], t.cols[c], vals)
		if err != nil {
			return nil, err
		}
		if t.isKey(c) && (v.null || v.unset || v.b == nil) {
			return nil, invalidError("Invalid null or unset value for primary key column %s", name)
		}
		if len(t.partition) == 1 && t.partition[0] == c && len(v.b) == 0 {
			return nil, invalidError("Key may not be empty")
		}
		if !v.unset {
			cells[c] = cell{v: v.b, set: !v.null}
		}
	}
	var expires int64
	if st.ttl != nil {
		v, err := bound(*st.ttl, column{"[ttl]", mustType("int")}, vals)
		if err != nil {
			return nil, err
		}
		ttl := signed(v.b)
		switch {
		case ttl < 0:
			return nil, invalidError("A TTL must be greater or equal to 0, but was %d", ttl)
		case ttl > maxTTL:
			return nil, invalidError("ttl is too large. requested (%d) maximum (%d)", ttl, maxTTL)
		case ttl > 0:
			expires = s.nowSec() + ttl
		}
	}
	return &mutation{t, cells, expires}, nil
}

// applyBatch checks every statement of a batch, then applies them all
// (a batch with one bad statement writes nothing, as in Cassandra); it
// returns how many distinct partitions were written.
func (s *store) applyBatch(stmts []*prepared, vals [][]value) (partitions int, _ *cqlError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := make([]*mutation, len(stmts))
	for i, p := range stmts {
		if len(p.binds) != len(vals[i]) {
			return 0, invalidError("There were %d markers(?) in CQL but %d bound variables", len(p.binds), len(vals[i]))
		}
		m, err := s.bindInsert(p.st.(insertStmt), vals[i])
		if err != nil {
			return 0, err
		}
		ms[i] = m
	}
	parts := map[string]bool{}
	for i, m := range ms {
		parts[stmts[i].ks+"."+stmts[i].table+"/"+m.apply()] = true
	}
	return len(parts), nil
}

func (s *store) selectRows(p *prepared, st selectStmt, vals []value, page queryParams) (*result, *cqlError) {
	t, err := s.table(st.ks, st.table)
	if err != nil {
		return nil, err
	}
	type cond struct {
		col int
		op  string
		v   []byte
	}
	var conds []cond
	pk := make([][]byte, len(t.partition))
	for _, r := range st.where {
		c := t.colIdx[r.col]
		v, err := bound(r.val, t.cols[c], vals)
		if err != nil {
			return nil, err
		}
		if v.null || v.unset {
			return nil, invalidError("Invalid null or unset value for column %s", r.col)
		}
		if k := slices.Index(t.partition, c); k >= 0 {
			pk[k] = v.b
			continue
		}
		conds = append(conds, cond{c, r.op, v.b})
	}
	limit := -1
	if st.limit != nil {
		v, err := bound(*st.limit, column{"[limit]", mustType("int")}, vals)
		if err != nil {
			return nil, err
		}
		if limit = int(signed(v.b)); limit <= 0 {
			return nil, invalidError("LIMIT must be strictly positive")
		}
	}
	now := s.nowSec()
	var parts []*partition
	if len(st.where) == 0 {
		parts = t.partitionsInOrder()
	} else if p := t.parts[encodeKey(pk)]; p != nil {
		parts = []*partition{p}
	}
	for _, p := range parts {
		t.purge(p, now)
	}
	res := &result{kind: resultRows, ks: t.ks, table: t.name, cols: p.result}
	idx := make([]int, len(p.result))
	for i, c := range p.result {
		idx[i] = t.colIdx[c.name]
	}
	for _, part := range parts {
	rows:
		for _, r := range part.rows {
			if !r.live(now) {
				continue
			}
			for _, c := range conds {
				if !holds(t.cols[c.col].typ.compare(t.value(part, r, c.col, now), c.v), c.op) {
					continue rows
				}
			}
			out := make([][]byte, len(idx))
			for i, c := range idx {
				out[i] = t.value(part, r, c, now)
			}
			res.rows = append(res.rows, out)
			if limit > 0 && len(res.rows) == limit {
				break
			}
		}
	}
	res.page(page)
	return res, nil
}

func holds(cmp int, op string) bool {
	switch op {
	case "=":
		return cmp == 0
	case "<":
		return cmp < 0
	case "<=":
		return cmp <= 0
	case ">":
		return cmp > 0
	}
	return cmp >= 0 // ">="
}

// page cuts the rows to the requested page; the paging state is the
// offset of the next row (a stand-in: Cassandra's is opaque too).
func (r *result) page(q queryParams) {
	from := 0
	if len(q.pagingState) == 4 {
		from = min(int(binary.BigEndian.Uint32(q.pagingState)), len(r.rows))
	}
	r.rows = r.rows[from:]
	if q.pageSize > 0 && len(r.rows) > q.pageSize {
		r.rows = r.rows[:q.pageSize]
		r.more = binary.BigEndian.AppendUint32(nil, uint32(from+q.pageSize))
	}
}

// body encodes a RESULT frame body; noMetadata leaves the rows' column
// specs out (the client asked to skip them: it has them from PREPARE).
func (r *result) body(noMetadata bool) []byte {
	var w writer
	w.int(r.kind)
	switch r.kind {
	case resultRows:
		w.rowsMetadata(r.ks, r.table, r.cols, r.more, noMetadata)
		w.int(len(r.rows))
		for _, row := range r.rows {
			for _, v := range row {
				w.bytes(v)
			}
		}
	case resultSchemaChange:
		w.string(r.change)
		w.string(r.target)
		w.string(r.keyspace)
		if r.target == "TABLE" {
			w.string(r.object)
		}
	}
	return w.b
}

// rowsMetadata writes <metadata> (spec §4.2.5.2) with a global table spec.
func (w *writer) rowsMetadata(ks, table string, cols []column, more []byte, noMetadata bool) {
	flags := metaGlobalTableSpec
	if more != nil {
		flags |= metaHasMorePages
	}
	if noMetadata {
		flags = flags&^metaGlobalTableSpec | metaNoMetadata
	}
	w.int(flags)
	w.int(len(cols))
	if more != nil {
		w.bytes(more)
	}
	if noMetadata {
		return
	}
	w.string(ks)
	w.string(table)
	for _, c := range cols {
		w.string(c.name)
		w.short(c.typ.id)
	}
}

// preparedBody encodes a RESULT Prepared (spec §4.2.5.4).
func (p *prepared) body() []byte {
	var w writer
	w.int(resultPrepared)
	w.shortBytes(p.id)
	flags := 0
	if p.ks != "" {
		flags = metaGlobalTableSpec
	}
	w.int(flags)
	w.int(len(p.binds))
	w.int(len(p.pkIdx))
	for _, i := range p.pkIdx {
		w.short(i)
	}
	if p.ks != "" {
		w.string(p.ks)
		w.string(p.table)
	}
	for _, c := range p.binds {
		w.string(c.name)
		w.short(c.typ.id)
	}
	if _, ok := p.st.(selectStmt); ok {
		w.rowsMetadata(p.ks, p.table, p.result, nil, false)
	} else {
		w.int(metaNoMetadata)
		w.int(0)
	}
	return w.b
}
