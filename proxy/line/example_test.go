package line_test

import (
	"fmt"
	"io"
	"strings"

	"ringrelay/proxy/line"
)

// The stream path of a listener: read blocks, cut lines, find keys, forward
// the (possibly rewritten) line. Blank lines are skipped uncounted.
func Example() {
	in := "a.b.c 1 1732236000\r\n\nbad.line 1\n  x.y\t2.5   1732236000\nlast.line 3 1732236000"
	format, err := line.NewFormat(line.FormatConfig{Format: "graphite"})
	if err != nil {
		panic(err)
	}
	rw, _ := format.(line.Rewriter)
	r := line.NewReader(strings.NewReader(in), line.ReaderConfig{})
	keyBuf := make([]byte, 0, 256)  // per-connection scratch for keys
	lineBuf := make([]byte, 0, 512) // and for rewritten lines
	for {
		block, err := r.Next()
		if err == io.EOF {
			break
		}
		for len(block) > 0 {
			var l []byte
			l, block = line.Cut(block)
			key, reason := format.Key(keyBuf, l)
			switch {
			case reason == line.Empty:
				continue
			case reason != line.OK:
				fmt.Printf("refused %q: %s\n", l, reason)
				continue
			}
			if rw != nil {
				l = rw.Rewrite(lineBuf, l)
			}
			fmt.Printf("key %q line %q\n", key, l)
		}
	}
	fmt.Println("overlong lines:", r.Overlong())
	// Output:
	// key "a.b.c" line "a.b.c 1 1732236000"
	// refused "bad.line 1": bad_fields
	// key "x.y" line "x.y 2.5 1732236000"
	// key "last.line" line "last.line 3 1732236000"
	// overlong lines: 0
}

// Statsd datagrams carry many lines; Cut splits them the same way.
func ExampleCut() {
	datagram := []byte("gorets:1|c\nglork:320|ms|@0.5\ngaugor:-10|g\nnope:1|q")
	format, _ := line.NewFormat(line.FormatConfig{Format: "statsd"})
	for len(datagram) > 0 {
		var l []byte
		l, datagram = line.Cut(datagram)
		key, reason := format.Key(nil, l)
		fmt.Printf("%q %s\n", key, reason)
	}
	// Output:
	// "gorets" ok
	// "glork" ok
	// "gaugor" ok
	// "nope" bad_type
}
