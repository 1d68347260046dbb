// Command libringgen prints where libring (github.com/kerinin/libring,
// ring.go) routes each key, for hashring's jump_partition golden files.
// libring itself cannot be built here (its module is not on the proxy and it
// needs a Serf cluster), so this restates its ring.go glue over the exact
// dependencies it calls: github.com/dgryski/go-jump and Go's hash/fnv.
//
// Usage: libringgen SERVERSFILE REPLICATION PARTITIONS fnv64a|fnv32a < keys
// Output: one line per key, the SERVERSFILE lines of its members joined by ','.
package main

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	jump "github.com/dgryski/go-jump"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: libringgen SERVERSFILE REPLICATION PARTITIONS fnv64a|fnv32a < keys")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	repl, _ := strconv.Atoi(os.Args[2])
	parts, _ := strconv.ParseUint(os.Args[3], 10, 64)
	byName := map[string]string{}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		hp, inst, _ := strings.Cut(line, "=")
		name := inst
		if name == "" {
			h, p, _ := strings.Cut(hp, ":")
			name = net.JoinHostPort(h, p)
		}
		byName[name] = line
		names = append(names, name)
	}
	sort.Strings(names) // libring cluster.go recomputeRing
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var part uint64
		if os.Args[4] == "fnv32a" { // libring README: "FNV32a"
			h := fnv.New32a()
			h.Write(sc.Bytes())
			part = uint64(h.Sum32()) % parts
		} else { // libring ring.go partitionForKey
			h := fnv.New64a()
			h.Write(sc.Bytes())
			part = uint64(uint(h.Sum64())) % parts
		}
		// ring.go member(): rotation + replica, mod len(members)
		rot := uint(jump.Hash(part, len(names)))
		var out []string
		for r := uint(0); r < uint(repl); r++ {
			out = append(out, byName[names[(rot+r)%uint(len(names))]])
		}
		fmt.Fprintln(w, strings.Join(out, ","))
	}
}
