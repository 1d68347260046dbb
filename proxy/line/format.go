// Package line holds the pure line parsers of the relay: the formats that
// validate a line and find the key it is routed by (graphite plaintext,
// statsd, or any line a regex pulls a key out of), a block reader that cuts a
// stream into blocks of whole lines, and Cut to take one line off a block.
//
// It knows nothing of sockets, routing or metrics: listeners feed it bytes
// and count what it reports. Everything here takes []byte and returns views
// into it; nothing on the graphite, statsd or Reader paths allocates per line.
package line

import "fmt"

// Format validates one line and finds its routing key.
//
// Implementations are immutable after NewFormat and safe for concurrent use
// by any number of goroutines.
type Format interface {
	// Name is the format's config name: "graphite", "statsd" or "regex".
	Name() string
	// Key validates line and returns its key. line is one line without its
	// '\n' and without a trailing '\r' (see Cut). The key is normally a view
	// into line; a format that rewrites keys builds the key in dst instead
	// (appending to dst[:0]; never longer than line), so callers pass
	// per-connection scratch space and the key stays valid until line or
	// dst is reused. r is OK when the
	// line may be forwarded; otherwise key may still hold what was found,
	// for logging. Empty lines give Empty, which callers skip uncounted.
	Key(dst, line []byte) (key []byte, r Reason)
}

// Rewriter is implemented by formats whose forwarded line may differ from
// the line read (graphite: whitespace normalised, and names rewritten the
// way carbon-c-relay does when enabled). Call Rewrite only for a line Key
// accepted; it returns either line itself (nothing to change: no copy) or
// the new line built in dst[:0], never longer than line, so scratch space
// of the maximum line length never grows. Use a different dst from the one
// given to Key if the key must stay valid.
type Rewriter interface {
	Rewrite(dst, line []byte) []byte
}

// KeyRewriter is implemented by Rewriters that do Key and Rewrite in one
// pass over the line, for callers that forward every line they accept: key
// and r are what Key returns; out is what Rewrite returns when r is OK (and
// line otherwise). key is a view into line or into out; out is line itself
// or built in dst[:0]. graphite implements it: with carbon-c-relay names it
// saves a second CCRName call per line.
type KeyRewriter interface {
	KeyRewrite(dst, line []byte) (key, out []byte, r Reason)
}

// Format names accepted in FormatConfig.Format.
const (
	FormatGraphite = "graphite"
	FormatStatsd   = "statsd"
	FormatRegex    = "regex"
)

// FormatConfig selects and configures a line format. Listeners embed it in
// their TOML section.
type FormatConfig struct {
	// Format is "graphite", "statsd" or "regex".
	Format string `toml:"format"`
	// Regex is the Go regular expression of the regex format; its named
	// group (?P<Key>...) is the key. Only for format = "regex".
	Regex string `toml:"regex"`
	// CCRNames rewrites graphite names with CCRName, as carbon-c-relay's
	// daemon does before hashing and forwarding them (allowed characters,
	// '_' for the rest, ".." collapsed, tags after ';' kept but not
	// hashed). Only for format = "graphite".
	CCRNames bool `toml:"ccr_names"`
}

// DefaultFormatConfig returns the default: graphite plaintext, names as sent.
func DefaultFormatConfig() FormatConfig {
	return FormatConfig{Format: FormatGraphite}
}

// Validate returns the error NewFormat would return for c (it compiles the
// regex to check it), for config checks at start and reload.
func (c FormatConfig) Validate() error {
	_, err := NewFormat(c)
	return err
}

// NewFormat builds the Format that cfg describes, or returns an error that
// names the offending value.
func NewFormat(cfg FormatConfig) (Format, error) {
	if cfg.Regex != "" && cfg.Format != FormatRegex {
		return nil, fmt.Errorf("failed to build format %q: regex is only used with format = %q", cfg.Format, FormatRegex)
	}
	if cfg.CCRNames && cfg.Format != FormatGraphite {
		return nil, fmt.Errorf("failed to build format %q: ccr_names is only used with format = %q", cfg.Format, FormatGraphite)
	}
	switch cfg.Format {
	case FormatGraphite:
		g := &graphite{}
		if cfg.CCRNames {
			g.ccr = CCRName
		}
		return g, nil
	case FormatStatsd:
		return statsd{}, nil
	case FormatRegex:
		return newRegexFormat(cfg.Regex)
	}
	return nil, fmt.Errorf("failed to build format %q: unknown format, want %q, %q or %q", cfg.Format, FormatGraphite, FormatStatsd, FormatRegex)
}
