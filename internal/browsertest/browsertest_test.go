package browsertest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDumpDOMRunsThePage: the DOM comes from a browser that ran the page's
// script (the element it adds is there) and parsed its HTML (entities
// decoded, unclosed void elements and <p> handled).
func TestDumpDOMRunsThePage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(`<!doctype html><html><head><meta charset="utf-8"><title>t</title></head><body>
<p data-k="a">one &amp; <b>two</b><br>three
<p data-k="b">four
<div id="out"></div>
<script>document.getElementById("out").setAttribute("data-k", "js"); document.getElementById("out").textContent = "ran " + (2+3);</script>
</body></html>`))
	}))
	defer srv.Close()
	root, err := Parse(DumpDOM(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ k, want string }{
		{"a", "one & two three"},
		{"b", "four"},
		{"js", "ran 5"},
	} {
		n := root.First(WithAttr("data-k", tc.k))
		if n == nil {
			t.Errorf("no element with data-k=%q in the DOM", tc.k)
			continue
		}
		if got := n.Text(); got != tc.want {
			t.Errorf("data-k=%q text = %q, want %q", tc.k, got, tc.want)
		}
	}
	if n := len(root.All(WithAttr("data-k", "*"))); n != 3 {
		t.Errorf("%d elements with data-k, want 3", n)
	}
}

// TestParseChromiumSerialisation: what Chromium serialises (every element
// closed except void ones, attributes quoted) parses into the tree a
// browser built, in document order.
func TestParseChromiumSerialisation(t *testing.T) {
	root, err := Parse(`<html><head><meta charset="utf-8"></head><body><ul><li x="1">a</li><li x="2">b &lt;c&gt;</li></ul><img src="x"><br><span x="3">d&nbsp;e</span></body></html>`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range root.All(WithAttr("x", "*")) {
		got = append(got, n.Attrs["x"]+"="+n.Text())
	}
	if want := "1=a|2=b <c>|3=d e"; strings.Join(got, "|") != want {
		t.Errorf("elements %q, want %q", strings.Join(got, "|"), want)
	}
	if got, want := root.First(WithAttr("x", "*")).Text(), "a"; got != want {
		t.Errorf("first li text %q, want %q", got, want)
	}
	if got, want := root.Text(), "a b <c> d e"; got != want {
		t.Errorf("document text %q, want %q (li apart, inline span run on)", got, want)
	}
	if li := root.First(WithAttr("x", "2")); li == nil || li.Tag != "li" {
		t.Errorf("First(x=2) = %+v, want the second li", li)
	}
}
