package expr

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// param is one parameter of a function, as graphite-web declares it; the
// type names are graphite-web's (they show in /functions).
type param struct {
	name        string
	typ         string // seriesList, float, integer, intOrInf, boolean, interval, intOrInterval, aggFunc, nodeOrTag, string, any
	required    bool
	def         any
	multiple    bool
	options     []any
	suggestions []any
}

// accept checks v against the parameter's type and records it in out (the
// converted value, e.g. an integer for a float parameter becomes a float, as
// graphite-web's validators convert). None leaves an optional parameter unset.
func (p param) accept(fn string, v value, out map[string][]value) error {
	if v.kind == kindNone {
		if p.required {
			return fmt.Errorf("%s: parameter %q is required and cannot be None", fn, p.name)
		}
		return nil
	}
	conv, ok := p.convert(v)
	if !ok {
		return fmt.Errorf("%s: invalid %s value for parameter %q: %s", fn, p.typ, p.name, describe(v))
	}
	if p.typ == "aggFunc" && !slices.Contains(aggFuncNames(), conv.str) {
		return fmt.Errorf("%s: invalid aggregation function %q for parameter %q (want one of %s)",
			fn, conv.str, p.name, quoteList(aggFuncNames()))
	}
	out[p.name] = append(out[p.name], conv)
	return nil
}

// convert returns v as the parameter's type wants it, or false.
func (p param) convert(v value) (value, bool) {
	switch p.typ {
	case "seriesList":
		return v, v.kind == kindSeries
	case "float":
		f, ok := toFloat(v)
		return value{kind: kindNumber, num: &NumberExpr{Value: f, Raw: pyFloatStr(f)}}, ok
	case "integer":
		return v, isInteger(v)
	case "intOrInf":
		return v, isInteger(v) || v.kind == kindNumber && math.IsInf(v.num.Value, 1)
	case "boolean":
		b, ok := toBool(v)
		return value{kind: kindBool, b: b}, ok
	case "interval":
		if v.kind != kindString {
			return v, false
		}
		_, err := parseOffset(v.str)
		return v, err == nil
	case "intOrInterval":
		if v.kind == kindString {
			_, err := parseOffset(v.str)
			return v, err == nil
		}
		return v, isInteger(v)
	case "aggFunc", "string":
		return v, v.kind == kindString
	case "nodeOrTag":
		return v, isInteger(v) || v.kind == kindString
	case "any":
		return v, true
	}
	return v, false
}

func isInteger(v value) bool { return v.kind == kindNumber && v.num.Int }

// toFloat converts as Python's float() does for the literals a target can hold.
func toFloat(v value) (float64, bool) {
	switch v.kind {
	case kindNumber:
		return v.num.Value, true
	case kindBool:
		if v.b {
			return 1, true
		}
		return 0, true
	case kindString:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.str), 64)
		return f, err == nil
	}
	return 0, false
}

// toBool converts as graphite-web's validateBoolean does.
func toBool(v value) (bool, bool) {
	switch v.kind {
	case kindBool:
		return v.b, true
	case kindString:
		switch strings.ToLower(v.str) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	case kindNumber:
		switch v.num.Value {
		case 0:
			return false, true
		case 1:
			return true, true
		}
	}
	return false, false
}

// describe renders a value for an error message.
func describe(v value) string {
	switch v.kind {
	case kindNumber:
		return v.num.Raw
	case kindString:
		return strconv.Quote(v.str)
	case kindBool:
		return strconv.FormatBool(v.b)
	}
	return v.kind.String()
}

// Accessors for bound arguments; bind has checked the types.

func (c *call) has(name string) bool { return len(c.args[name]) > 0 }

// seriesList returns a series-list parameter (nil if it was not given).
func (c *call) seriesList(name string) []*Series {
	if !c.has(name) {
		return nil
	}
	return c.args[name][0].series
}

// seriesLists returns every series list a multiple parameter holds.
func (c *call) seriesLists(name string) [][]*Series {
	out := make([][]*Series, len(c.args[name]))
	for i, v := range c.args[name] {
		out[i] = v.series
	}
	return out
}

func (c *call) float(name string, def float64) float64 {
	if !c.has(name) {
		return def
	}
	return c.args[name][0].num.Value
}

// optFloat returns a float parameter and whether it was given.
func (c *call) optFloat(name string) (float64, bool) {
	if !c.has(name) {
		return 0, false
	}
	return c.args[name][0].num.Value, true
}

// int returns an integer parameter, clamped to ±2^53 so that a huge
// literal cannot wrap around.
func (c *call) int(name string, def int) int {
	if !c.has(name) {
		return def
	}
	const limit = 1 << 53
	return int(max(min(c.args[name][0].num.Value, limit), -limit))
}

func (c *call) str(name, def string) string {
	if !c.has(name) {
		return def
	}
	return c.args[name][0].str
}

func (c *call) bool(name string, def bool) bool {
	if !c.has(name) {
		return def
	}
	return c.args[name][0].b
}

// value returns the raw value of a parameter, if given.
func (c *call) value(name string) (value, bool) {
	if !c.has(name) {
		return value{}, false
	}
	return c.args[name][0], true
}

// values returns every value a multiple parameter holds.
func (c *call) values(name string) []value { return c.args[name] }
