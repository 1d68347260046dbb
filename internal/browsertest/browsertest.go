// Package browsertest loads pages in a real browser for tests: Debian's
// headless Chromium (the chromium package) renders a URL and hands back
// the DOM it built, which Parse turns into a tree the test can query by
// attribute and read the text of, as a user would see it.
//
// When chromium is not installed the test is skipped, unless the
// environment variable CI is non-empty: then it fails.
package browsertest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Binaries tried, in order: Debian's chromium, then other distributions'
// names for it.
var binaries = []string{"chromium", "chromium-browser", "google-chrome"}

// loadTimeout bounds one page load, Chromium's start included (seconds on
// a busy two-core machine).
const loadTimeout = 90 * time.Second

// Chromium returns the browser's path. It skips the test when none is
// installed and CI is unset, and fails it when CI is set.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range binaries {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no headless browser (%s) on PATH: apt-get install -y chromium", strings.Join(binaries, ", "))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// DumpDOM loads url in headless Chromium, with a profile of its own in
// the test's temp dir, and returns the DOM once the page has loaded
// (scripts run, as a user's browser would have them).
func DumpDOM(t testing.TB, url string) string {
	t.Helper()
	bin := Chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions",
		"--user-data-dir="+t.TempDir(),
		"--dump-dom", url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, tail(stderr.String(), 2000))
	}
	if stdout.Len() == 0 {
		t.Fatalf("chromium --dump-dom %s printed no DOM\n%s", url, tail(stderr.String(), 2000))
	}
	return stdout.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// Node is an element of a parsed DOM.
type Node struct {
	Tag      string
	Attrs    map[string]string
	Children []*Node
	// parts are the element's text runs and children in document order,
	// for Text.
	parts []any // string or *Node
}

// Parse reads the HTML that DumpDOM returned into a tree under a root
// node. Chromium's serialisation is regular enough for encoding/xml's
// lenient HTML mode (void elements closed automatically, HTML entities).
func Parse(dom string) (*Node, error) {
	d := xml.NewDecoder(strings.NewReader(dom))
	d.Strict = false
	d.AutoClose = xml.HTMLAutoClose
	d.Entity = xml.HTMLEntity
	root := &Node{Tag: "#root", Attrs: map[string]string{}}
	stack := []*Node{root}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return root, nil
		}
		if err != nil {
			return nil, fmt.Errorf("failed to parse DOM: %w", err)
		}
		top := stack[len(stack)-1]
		switch tok := tok.(type) {
		case xml.StartElement:
			n := &Node{Tag: strings.ToLower(tok.Name.Local), Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				n.Attrs[strings.ToLower(a.Name.Local)] = a.Value
			}
			top.Children = append(top.Children, n)
			top.parts = append(top.parts, n)
			stack = append(stack, n)
		case xml.EndElement:
			// Close up to the matching element; an unmatched end tag is
			// ignored, as browsers do.
			name := strings.ToLower(tok.Name.Local)
			for i := len(stack) - 1; i > 0; i-- {
				if stack[i].Tag == name {
					stack = stack[:i]
					break
				}
			}
		case xml.CharData:
			top.parts = append(top.parts, string(tok))
		}
	}
}

// Text is the element's text with runs of white space (no-break spaces
// too) collapsed to one space and block elements apart, as a browser lays
// it out, near enough for assertions. Script
// and style contents are left out.
func (n *Node) Text() string {
	var b strings.Builder
	n.text(&b)
	return strings.Join(strings.Fields(b.String()), " ")
}

func (n *Node) text(b *strings.Builder) {
	if n.Tag == "script" || n.Tag == "style" {
		return
	}
	for _, p := range n.parts {
		switch p := p.(type) {
		case string:
			b.WriteString(p)
		case *Node:
			// Block and table elements sit apart; inline ones
			// (b, code, span) run on with the text around them.
			sep := blocks[p.Tag]
			if sep {
				b.WriteByte(' ')
			}
			p.text(b)
			if sep {
				b.WriteByte(' ')
			}
		}
	}
}

// blocks are the elements a browser lays out apart from their neighbours.
var blocks = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "br": true, "dd": true, "div": true,
	"dl": true, "dt": true, "footer": true, "form": true, "h1": true, "h2": true, "h3": true, "h4": true,
	"h5": true, "h6": true, "header": true, "hr": true, "li": true, "main": true, "nav": true, "ol": true,
	"p": true, "pre": true, "section": true, "table": true, "tbody": true, "td": true, "tfoot": true,
	"th": true, "thead": true, "tr": true, "ul": true,
}

// All returns every element under n (n excluded), in document order, for
// which match is true.
func (n *Node) All(match func(*Node) bool) []*Node {
	var out []*Node
	for _, c := range n.Children {
		if match(c) {
			out = append(out, c)
		}
		out = append(out, c.All(match)...)
	}
	return out
}

// WithAttr matches elements having attribute name with value value, or
// with any value when value is "*".
func WithAttr(name, value string) func(*Node) bool {
	return func(n *Node) bool {
		v, ok := n.Attrs[name]
		return ok && (value == "*" || v == value)
	}
}

// First returns the first element under n that match accepts, or nil.
func (n *Node) First(match func(*Node) bool) *Node {
	for _, c := range n.Children {
		if match(c) {
			return c
		}
		if f := c.First(match); f != nil {
			return f
		}
	}
	return nil
}
