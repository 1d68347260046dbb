package graphiteapi

import (
	"encoding/binary"
	"fmt"
	"math"
)

// pickleDict is a Python dict with its keys in the order written (a Go
// map would make the bytes differ from call to call).
type pickleDict []pickleItem

type pickleItem struct {
	Key   string
	Value any
}

// pickleTuple is a Python tuple.
type pickleTuple []any

// Pickle protocol 2 opcodes (Python's Lib/pickletools.py names them).
const (
	opProto      = 0x80
	opStop       = '.'
	opNone       = 'N'
	opNewTrue    = 0x88
	opNewFalse   = 0x89
	opBinInt     = 'J'
	opLong1      = 0x8a
	opBinFloat   = 'G'
	opBinUnicode = 'X'
	opEmptyList  = ']'
	opEmptyDict  = '}'
	opMark       = '('
	opAppends    = 'e'
	opSetItems   = 'u'
	opTuple      = 't'
	opEmptyTuple = ')'
)

// appendPickle appends v pickled with protocol 2, as Python's
// pickle.loads (and graphite-web's SafeUnpickler, which allows no
// classes) reads it back: nil → None, bool, int/int64 → int, float64 →
// float (NaN → None: graphite-web's null), string → str, []any and
// []float64 → list, pickleTuple → tuple, pickleDict → dict. No memo is
// written: nothing is shared, so nothing needs one.
func appendPickle(b []byte, v any) ([]byte, error) {
	b = append(b, opProto, 2)
	b, err := appendPickleValue(b, v)
	if err != nil {
		return nil, err
	}
	return append(b, opStop), nil
}

func appendPickleValue(b []byte, v any) ([]byte, error) {
	var err error
	switch v := v.(type) {
	case nil:
		return append(b, opNone), nil
	case bool:
		if v {
			return append(b, opNewTrue), nil
		}
		return append(b, opNewFalse), nil
	case int:
		return appendPickleInt(b, int64(v)), nil
	case int64:
		return appendPickleInt(b, v), nil
	case float64:
		if math.IsNaN(v) {
			return append(b, opNone), nil
		}
		b = append(b, opBinFloat)
		return binary.BigEndian.AppendUint64(b, math.Float64bits(v)), nil
	case string:
		b = append(b, opBinUnicode)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...), nil
	case []float64:
		b = append(b, opEmptyList)
		if len(v) == 0 {
			return b, nil
		}
		b = append(b, opMark)
		for _, f := range v {
			b, _ = appendPickleValue(b, f)
		}
		return append(b, opAppends), nil
	case []any:
		b = append(b, opEmptyList)
		if len(v) == 0 {
			return b, nil
		}
		b = append(b, opMark)
		for _, e := range v {
			if b, err = appendPickleValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, opAppends), nil
	case pickleTuple:
		if len(v) == 0 {
			return append(b, opEmptyTuple), nil
		}
		b = append(b, opMark)
		for _, e := range v {
			if b, err = appendPickleValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, opTuple), nil
	case pickleDict:
		b = append(b, opEmptyDict)
		if len(v) == 0 {
			return b, nil
		}
		b = append(b, opMark)
		for _, it := range v {
			b, _ = appendPickleValue(b, it.Key)
			if b, err = appendPickleValue(b, it.Value); err != nil {
				return nil, err
			}
		}
		return append(b, opSetItems), nil
	}
	return nil, fmt.Errorf("pickle: cannot encode a %T", v)
}

// appendPickleInt writes a 4-byte BININT when n fits, else LONG1 (the
// two's complement little-endian bytes, as Python writes big ints).
func appendPickleInt(b []byte, n int64) []byte {
	if n >= math.MinInt32 && n <= math.MaxInt32 {
		b = append(b, opBinInt)
		return binary.LittleEndian.AppendUint32(b, uint32(int32(n)))
	}
	var le [8]byte
	binary.LittleEndian.PutUint64(le[:], uint64(n))
	size := 8
	// Drop high bytes that only repeat the sign of the byte below them.
	for size > 1 {
		top, next := le[size-1], le[size-2]
		if (top == 0 && next&0x80 == 0) || (top == 0xff && next&0x80 != 0) {
			size--
			continue
		}
		break
	}
	b = append(b, opLong1, byte(size))
	return append(b, le[:size]...)
}
