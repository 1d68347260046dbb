package config

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// lineOf walks the TOML expressions of data, tracking the current table and
// the index of each array of tables, and returns the line of the first
// key/value or table header whose full path equals (or, for a table, starts)
// the wanted path. Array-of-table elements are addressed by their 0-based index.
func lineOf(data []byte, want []string) int {
	wantPath := strings.Join(want, ".")
	var p unstable.Parser
	p.Reset(data)
	var table []string
	arrayCount := map[string]int{}
	line := func(n *unstable.Node) int {
		r := p.Range(n.Data)
		return bytes.Count(data[:r.Offset], []byte{'\n'}) + 1
	}
	keyOf := func(n *unstable.Node) ([]string, *unstable.Node) {
		var parts []string
		var first *unstable.Node
		it := n.Key()
		for it.Next() {
			k := it.Node()
			if first == nil {
				first = k
			}
			parts = append(parts, string(k.Data))
		}
		return parts, first
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			parts, first := keyOf(e)
			name := strings.Join(parts, ".")
			if e.Kind == unstable.ArrayTable {
				i := arrayCount[name]
				arrayCount[name] = i + 1
				parts = append(parts, strconv.Itoa(i))
			}
			table = parts
			full := strings.Join(table, ".")
			if first != nil && full == wantPath {
				return line(first)
			}
		case unstable.KeyValue:
			parts, first := keyOf(e)
			full := strings.Join(append(append([]string{}, table...), parts...), ".")
			if first != nil && (full == wantPath || strings.HasPrefix(full, wantPath+".")) {
				return line(first)
			}
		}
	}
	// Fall back to the table that holds the key (e.g. a missing key).
	for len(want) > 1 {
		want = want[:len(want)-1]
		if l := lineOf(data, want); l > 0 {
			return l
		}
	}
	return 0
}
