package cqltest

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// cqlType is a column type the stand-in keeps: its [option] id (spec
// §4.2.5.2) and its value's fixed size (0: any).
type cqlType struct {
	name string
	id   int
	size []int // allowed encoded lengths; nil: any
}

var types = []cqlType{
	{"ascii", 0x0001, nil},
	{"bigint", 0x0002, []int{8}},
	{"blob", 0x0003, nil},
	{"boolean", 0x0004, []int{1}},
	{"double", 0x0007, []int{8}},
	{"int", 0x0009, []int{4}},
	{"timestamp", 0x000B, []int{8}},
	{"uuid", 0x000C, []int{16}},
	{"text", 0x000D, nil},
	{"varchar", 0x000D, nil},
	{"inet", 0x0010, []int{4, 16}},
}

func typeNamed(name string) (cqlType, bool) {
	for _, t := range types {
		if t.name == name {
			return t, true
		}
	}
	return cqlType{}, false
}

func knownTypes() string {
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = t.name
	}
	return strings.Join(names, ", ")
}

// check refuses a value the type does not allow, as Cassandra does: a
// wrong length ("Expected 8 or 0 byte long for ..."), text that is not
// UTF-8, ascii that is not ASCII.
func (t cqlType) check(col string, b []byte) *cqlError {
	switch {
	case t.size != nil && len(b) != 0 && !slices.Contains(t.size, len(b)):
		return invalidError("Expected %d byte long for %s column %q (got %d)", t.size[0], t.name, col, len(b))
	case (t.name == "text" || t.name == "varchar") && !utf8.Valid(b):
		return invalidError("Invalid UTF-8 bytes for column %q", col)
	case t.name == "ascii" && slices.ContainsFunc(b, func(c byte) bool { return c >= 0x80 }):
		return invalidError("Invalid byte for ascii column %q", col)
	}
	return nil
}

// literal encodes a literal for a column of type t.
func (t cqlType) literal(col string, tok token) ([]byte, *cqlError) {
	bad := func() ([]byte, *cqlError) {
		return nil, invalidError("Invalid %q literal for %s column %q", tok.text, t.name, col)
	}
	switch t.name {
	case "ascii", "text", "varchar":
		if tok.kind != tkString {
			return bad()
		}
		return []byte(tok.text), nil
	case "bigint", "timestamp", "int":
		n, err := strconv.ParseInt(tok.text, 10, 64)
		if tok.kind != tkNumber || err != nil {
			return bad()
		}
		if t.name == "int" {
			return binary.BigEndian.AppendUint32(nil, uint32(int32(n))), nil
		}
		return binary.BigEndian.AppendUint64(nil, uint64(n)), nil
	case "double":
		f, err := strconv.ParseFloat(tok.text, 64)
		if tok.kind != tkNumber || err != nil {
			return bad()
		}
		return binary.BigEndian.AppendUint64(nil, math.Float64bits(f)), nil
	case "boolean":
		if tok.kind != tkIdent || tok.text != "true" && tok.text != "false" {
			return bad()
		}
		if tok.text == "true" {
			return []byte{1}, nil
		}
		return []byte{0}, nil
	case "inet":
		ip := net.ParseIP(tok.text)
		if tok.kind != tkString || ip == nil {
			return bad()
		}
		if v4 := ip.To4(); v4 != nil {
			return v4, nil
		}
		return ip, nil
	}
	return bad()
}

// compare orders two encoded values of type t as Cassandra sorts them.
func (t cqlType) compare(a, b []byte) int {
	switch t.name {
	case "bigint", "timestamp", "int":
		return cmp.Compare(signed(a), signed(b))
	case "double":
		if len(a) == 8 && len(b) == 8 {
			return cmp.Compare(math.Float64frombits(binary.BigEndian.Uint64(a)), math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	}
	return bytes.Compare(a, b)
}

// signed decodes a big-endian two's-complement integer of 4 or 8 bytes.
func signed(b []byte) int64 {
	switch len(b) {
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b)))
	case 8:
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}
