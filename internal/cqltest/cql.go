package cqltest

import (
	"strings"
)

// The statements the stand-in understands, parsed from their text:
//
//	CREATE KEYSPACE [IF NOT EXISTS] ks WITH ...
//	DROP KEYSPACE [IF EXISTS] ks
//	CREATE TABLE [IF NOT EXISTS] ks.t (col type [PRIMARY KEY], ...,
//	    [PRIMARY KEY ((p1, p2), c1, ...)]) [WITH ...]
//	INSERT INTO ks.t (c1, ...) VALUES (term, ...) [USING TTL term]
//	SELECT * | c1, ... FROM ks.t [WHERE c op term [AND ...]] [LIMIT term]
//
// where a term is a bind marker (?) or a literal ('text', 12, 1.5, true).
// Anything else is a syntax error, as Cassandra would answer a typo.

type statement interface{ isStatement() }

type createKeyspace struct {
	name        string
	ifNotExists bool
}

type dropKeyspace struct {
	name     string
	ifExists bool
}

type createTable struct {
	ks, name    string
	ifNotExists bool
	cols        []column
	partition   []string
	clustering  []string
}

type insertStmt struct {
	ks, table string
	cols      []string
	values    []term
	ttl       *term
}

type selectStmt struct {
	ks, table string
	cols      []string // nil: *
	where     []relation
	limit     *term
}

func (createKeyspace) isStatement() {}
func (dropKeyspace) isStatement()   {}
func (createTable) isStatement()    {}
func (insertStmt) isStatement()     {}
func (selectStmt) isStatement()     {}

type column struct {
	name string
	typ  cqlType
}

// term is a bind marker (marker: its index among the statement's markers)
// or a literal.
type term struct {
	marker int // -1 for a literal
	lit    token
}

type relation struct {
	col string
	op  string // = < <= > >=
	val term
}

type tokenKind int

const (
	tkEOF tokenKind = iota
	tkIdent
	tkQuoted // "Name"
	tkString // 'text'
	tkNumber
	tkSymbol
)

type token struct {
	kind tokenKind
	text string // identifiers lower-cased; strings unquoted
}

func tokenize(s string) ([]token, *cqlError) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			out = append(out, token{tkIdent, strings.ToLower(s[i:j])})
			i = j
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, token{tkNumber, s[i:j]})
			i = j
		case c == '\'' || c == '"':
			text, n, ok := quoted(s[i:], c)
			if !ok {
				return nil, syntaxError("line 1:%d unterminated %c", i, c)
			}
			kind := tkString
			if c == '"' {
				kind = tkQuoted
			}
			out = append(out, token{kind, text})
			i += n
		case c == '<' || c == '>':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, token{tkSymbol, s[i : i+2]})
				i += 2
			} else {
				out = append(out, token{tkSymbol, s[i : i+1]})
				i++
			}
		case strings.IndexByte("(),.;=?*{}:", c) >= 0:
			out = append(out, token{tkSymbol, s[i : i+1]})
			i++
		default:
			return nil, syntaxError("line 1:%d no viable alternative at character '%c'", i, c)
		}
	}
	return append(out, token{kind: tkEOF}), nil
}

func isIdentStart(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isIdentPart(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '_' }

// quoted reads a quoted text starting at s[0] == q; a doubled quote
// stands for one.
func quoted(s string, q byte) (text string, n int, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] != q {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == q {
			b.WriteByte(q)
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// parser walks the tokens of one statement.
type parser struct {
	toks    []token
	pos     int
	markers int
	err     *cqlError
}

func parse(text string) (statement, *cqlError) {
	toks, err := tokenize(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var st statement
	switch {
	case p.accept("create", "keyspace"):
		st = p.createKeyspace()
	case p.accept("drop", "keyspace"):
		st = dropKeyspace{ifExists: p.accept("if", "exists"), name: p.ident()}
	case p.accept("create", "table"), p.accept("create", "columnfamily"):
		st = p.createTable()
	case p.accept("insert", "into"):
		st = p.insert()
	case p.accept("select"):
		st = p.selectStmt()
	default:
		return nil, syntaxError("line 1:0 no viable alternative at input %q (the stand-in knows CREATE KEYSPACE, DROP KEYSPACE, CREATE TABLE, INSERT and SELECT)", p.peek().text)
	}
	p.accept(";")
	if p.err == nil && p.peek().kind != tkEOF {
		p.fail("extraneous input %q", p.peek().text)
	}
	if p.err != nil {
		return nil, p.err
	}
	return st, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tkEOF {
		p.pos++
	}
	return t
}

func (p *parser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = syntaxError("line 1:%d "+format, append([]any{p.pos}, a...)...)
	}
}

// accept consumes the words (keywords or symbols) when they all come next.
func (p *parser) accept(words ...string) bool {
	for i, w := range words {
		t := p.toks[min(p.pos+i, len(p.toks)-1)]
		if t.kind != tkIdent && t.kind != tkSymbol || t.text != w {
			return false
		}
	}
	p.pos += len(words)
	return true
}

func (p *parser) expect(words ...string) {
	if p.err == nil && !p.accept(words...) {
		p.fail("mismatched input %q expecting %q", p.peek().text, strings.Join(words, " "))
	}
}

func (p *parser) ident() string {
	t := p.next()
	if t.kind != tkIdent && t.kind != tkQuoted {
		p.fail("expected an identifier, got %q", t.text)
		return ""
	}
	return t.text
}

// tableName reads ks.table; the stand-in has no USE, so the keyspace is
// required.
func (p *parser) tableName() (ks, table string) {
	ks = p.ident()
	if !p.accept(".") {
		if p.err == nil {
			p.err = invalidError("No keyspace has been specified for table %q (the stand-in has no USE: name it as keyspace.table)", ks)
		}
		return "", ""
	}
	return ks, p.ident()
}

func (p *parser) ifNotExists() bool { return p.accept("if", "not", "exists") }

// skipProperties consumes the properties after WITH (maps, CLUSTERING
// ORDER BY, compaction, ...), which the stand-in records nowhere. A
// descending clustering order is refused, as reads here only run
// ascending.
func (p *parser) skipProperties() {
	depth := 0
	for p.err == nil {
		t := p.peek()
		if t.kind == tkEOF || depth == 0 && t.kind == tkSymbol && t.text == ";" {
			return
		}
		if t.kind == tkIdent && t.text == "desc" {
			p.err = invalidError("the stand-in keeps clustering columns in ascending order only")
			return
		}
		switch t.text {
		case "(", "{":
			depth++
		case ")", "}":
			depth--
		}
		p.next()
	}
}

func (p *parser) createKeyspace() statement {
	st := createKeyspace{ifNotExists: p.ifNotExists()}
	st.name = p.ident()
	p.expect("with", "replication", "=")
	p.skipProperties()
	return st
}

func (p *parser) createTable() statement {
	st := createTable{ifNotExists: p.ifNotExists()}
	st.ks, st.name = p.tableName()
	p.expect("(")
	for p.err == nil {
		if p.accept("primary", "key") {
			st.partition, st.clustering = p.primaryKey()
		} else {
			name := p.ident()
			typ, ok := typeNamed(p.ident())
			if !ok && p.err == nil {
				p.err = invalidError("column %q: the stand-in knows the types %s", name, knownTypes())
			}
			st.cols = append(st.cols, column{name, typ})
			if p.accept("primary", "key") {
				st.partition = []string{name}
			}
		}
		if !p.accept(",") {
			break
		}
	}
	p.expect(")")
	if p.accept("with") {
		p.skipProperties()
	}
	if p.err == nil && len(st.partition) == 0 {
		p.err = invalidError("No PRIMARY KEY specifed for table %q", st.name)
	}
	return st
}

// primaryKey reads "(p1, p2, ...)" after PRIMARY KEY: the first element,
// itself parenthesised or not, is the partition key.
func (p *parser) primaryKey() (partition, clustering []string) {
	p.expect("(")
	if p.accept("(") {
		for p.err == nil {
			partition = append(partition, p.ident())
			if !p.accept(",") {
				break
			}
		}
		p.expect(")")
	} else {
		partition = []string{p.ident()}
	}
	for p.err == nil && p.accept(",") {
		clustering = append(clustering, p.ident())
	}
	p.expect(")")
	return partition, clustering
}

func (p *parser) insert() statement {
	var st insertStmt
	st.ks, st.table = p.tableName()
	p.expect("(")
	for p.err == nil {
		st.cols = append(st.cols, p.ident())
		if !p.accept(",") {
			break
		}
	}
	p.expect(")")
	p.expect("values")
	p.expect("(")
	for p.err == nil {
		st.values = append(st.values, p.term())
		if !p.accept(",") {
			break
		}
	}
	p.expect(")")
	if p.err == nil && len(st.values) != len(st.cols) {
		p.err = invalidError("Unmatched column names/values: %d columns, %d values", len(st.cols), len(st.values))
	}
	if p.accept("using", "ttl") {
		t := p.term()
		st.ttl = &t
	}
	return st
}

func (p *parser) selectStmt() statement {
	var st selectStmt
	if !p.accept("*") {
		for p.err == nil {
			st.cols = append(st.cols, p.ident())
			if !p.accept(",") {
				break
			}
		}
	}
	p.expect("from")
	st.ks, st.table = p.tableName()
	if p.accept("where") {
		for p.err == nil {
			r := relation{col: p.ident()}
			op := p.next()
			switch op.text {
			case "=", "<", "<=", ">", ">=":
				r.op = op.text
			default:
				p.fail("unsupported operator %q", op.text)
			}
			r.val = p.term()
			st.where = append(st.where, r)
			if !p.accept("and") {
				break
			}
		}
	}
	if p.accept("limit") {
		t := p.term()
		st.limit = &t
	}
	return st
}

func (p *parser) term() term {
	t := p.next()
	switch {
	case t.kind == tkSymbol && t.text == "?":
		p.markers++
		return term{marker: p.markers - 1}
	case t.kind == tkString, t.kind == tkNumber,
		t.kind == tkIdent && (t.text == "true" || t.text == "false" || t.text == "null"):
		return term{marker: -1, lit: t}
	}
	p.fail("expected a value or ?, got %q", t.text)
	return term{marker: -1}
}
