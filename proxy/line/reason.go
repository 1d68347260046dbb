package line

// Reason says why a line was not forwarded. The zero value OK means the line
// is good. Reasons are small integers so callers can index per-reason
// counters by them; String gives the Prometheus label value.
type Reason uint8

// Reasons a line is refused. Empty is not an error: callers skip blank lines
// silently and do not count them.
const (
	OK           Reason = iota // the line is good
	Empty                      // blank line (nothing, or only spaces/tabs for graphite)
	TooLong                    // longer than the maximum line length (set by callers, e.g. for datagram lines; Reader counts stream lines itself)
	NoKey                      // the key is empty
	BadFields                  // wrong shape: graphite not exactly 3 fields, statsd no ':value|type'
	BadValue                   // value is not a number the format accepts
	BadTimestamp               // graphite timestamp is not a finite number
	BadType                    // statsd type missing or unknown
	BadRate                    // statsd sample rate is not '@' and a positive number
	NoMatch                    // regex format: the regex does not match, or its Key group is unset
	BadChar                    // the key contains a control character (0x00-0x1f, 0x7f)
)

// NumReasons is one more than the largest Reason: the length of an array
// indexed by Reason, e.g. per-reason counters bound at construction.
const NumReasons = int(BadChar) + 1

// String returns the snake_case name used as the Prometheus "reason" label,
// e.g. "bad_value". Unknown values give "unknown".
func (r Reason) String() string {
	switch r {
	case OK:
		return "ok"
	case Empty:
		return "empty"
	case TooLong:
		return "too_long"
	case NoKey:
		return "no_key"
	case BadFields:
		return "bad_fields"
	case BadValue:
		return "bad_value"
	case BadTimestamp:
		return "bad_timestamp"
	case BadType:
		return "bad_type"
	case BadRate:
		return "bad_rate"
	case NoMatch:
		return "no_match"
	case BadChar:
		return "bad_char"
	}
	return "unknown"
}

// Reasons returns every Reason except OK, in numeric order: the label values
// to pre-create counters for. The slice is new on each call; the caller owns it.
func Reasons() []Reason {
	rs := make([]Reason, 0, NumReasons-1)
	for r := OK + 1; int(r) < NumReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

// FormatReasons are the reasons a line of format can be refused for: its
// parser's, and TooLong (set by the reader). They are the label values a
// listener's invalid-line series are made for; an unknown format has
// them all.
func FormatReasons(format string) []Reason {
	switch format {
	case FormatGraphite:
		return []Reason{TooLong, NoKey, BadFields, BadValue, BadTimestamp, BadChar}
	case FormatStatsd:
		return []Reason{TooLong, NoKey, BadFields, BadValue, BadType, BadRate, BadChar}
	case FormatRegex:
		return []Reason{TooLong, NoKey, NoMatch, BadChar}
	}
	return Reasons()
}
