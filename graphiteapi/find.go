package graphiteapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"ringrelay/graphiteapi/expr"
	"ringrelay/sinks"
)

// findNode is one match of a find: graphite-web's node, a leaf or a
// branch. A stored path that has children too is two nodes.
type findNode struct {
	path string
	leaf bool
}

// name is the node's last segment.
func (n findNode) name() string { return n.path[strings.LastIndexByte(n.path, '.')+1:] }

// find returns the nodes pattern matches, sorted by path, a path's
// branch before its leaf.
func (a *API) find(ctx context.Context, pattern string, leavesOnly bool) ([]findNode, error) {
	g, err := sinks.CompileGlob(pattern)
	if err != nil {
		return nil, badRequestf("invalid value %q for parameter query: %v", pattern, err)
	}
	nodes, err := a.r.Find(ctx, g)
	if err != nil {
		return nil, &storeError{fmt.Errorf("failed to find %q: %w", pattern, err)}
	}
	var out []findNode
	for _, n := range nodes {
		if n.Branch && !leavesOnly {
			out = append(out, findNode{path: n.Path})
		}
		if n.Leaf {
			out = append(out, findNode{path: n.Path, leaf: true})
		}
	}
	return out, nil
}

// handleFind serves /metrics/find as graphite-web's find_view: query
// (required), format treejson (default), completer, json, nodelist or
// pickle (the cluster protocol); from/until/now/tz are checked but do not
// narrow the answer (the sink keeps no per-path time ranges).
func (a *API) handleFind(w http.ResponseWriter, r *http.Request, p params) error {
	format := "treejson"
	if p.has("format") {
		format = p.get("format")
	}
	switch format {
	case "treejson", "completer", "json", "nodelist", "pickle":
	case "msgpack":
		return badRequestf("format msgpack is not supported; use format=pickle (graphite-web's default)")
	default:
		return badRequestf("invalid value %q for parameter format: want treejson, completer, json, nodelist or pickle", format)
	}
	leavesOnly, err := p.intParam("leavesOnly", 0)
	if err != nil {
		return err
	}
	wildcards, err := p.intParam("wildcards", 0)
	if err != nil {
		return err
	}
	position, err := p.intParam("position", -1)
	if err != nil {
		return err
	}
	if _, err := p.intParam("local", 0); err != nil {
		return err
	}
	if err := a.checkFindTimes(p); err != nil {
		return err
	}
	if !p.has("query") {
		return badRequestf("missing required parameter 'query'")
	}
	query := p.get("query")
	if query == "" {
		return badRequestf("required parameter 'query' is empty")
	}
	basePath := ""
	if i := strings.LastIndexByte(query, '.'); i >= 0 {
		basePath = query[:i+1]
	}
	if format == "completer" {
		query = strings.ReplaceAll(query, "..", "*.")
		if !strings.HasSuffix(query, "*") {
			query += "*"
		}
	}
	nodes, err := a.find(r.Context(), query, leavesOnly != 0)
	if err != nil {
		return err
	}
	// graphite-web orders the matches by name (stably).
	slices.SortStableFunc(nodes, func(x, y findNode) int { return strings.Compare(x.name(), y.name()) })
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Cache-Control", "no-cache")
	switch format {
	case "treejson":
		return writeJSON(w, treeJSON(nodes, basePath, wildcards != 0))
	case "completer":
		return writeJSON(w, completerJSON(nodes, wildcards != 0))
	case "json":
		return writeJSON(w, nodesJSON(nodes, a.interval()))
	case "nodelist":
		return writeJSON(w, nodeList(nodes, position))
	}
	b, err := nodesPickle(nodes, a.interval())
	if err != nil {
		return err
	}
	return writeBody(w, "application/pickle", b)
}

// checkFindTimes refuses bad tz, now, from and until ("-1" is unset).
func (a *API) checkFindTimes(p params) error {
	loc, err := a.location(p)
	if err != nil {
		return err
	}
	now := a.now().In(loc)
	for _, name := range []string{"now", "from", "until"} {
		if v := p.get(name); p.has(name) && v != "-1" {
			if _, err := ParseATTime(v, loc, now); err != nil {
				return badRequestf("invalid value %q for parameter %s: %v", v, name, err)
			}
		}
	}
	return nil
}

// interval is what a leaf's data covers, as far as the sink can say:
// the longest retention back from now.
func (a *API) interval() [2]int64 {
	now := a.now().Unix()
	rets := a.r.Retentions()
	if len(rets) == 0 {
		return [2]int64{now, now}
	}
	return [2]int64{now - sinks.Seconds(rets[len(rets)-1].Retention), now}
}

func writeJSON(w http.ResponseWriter, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeBody(w, "application/json", b)
}

type treeNode struct {
	Text          string `json:"text"`
	ID            string `json:"id"`
	AllowChildren int    `json:"allowChildren"`
	Expandable    int    `json:"expandable"`
	Leaf          int    `json:"leaf"`
}

func newTreeNode(text, id string, leaf bool) treeNode {
	if leaf {
		return treeNode{Text: text, ID: id, Leaf: 1}
	}
	return treeNode{Text: text, ID: id, AllowChildren: 1, Expandable: 1}
}

// treeJSON is graphite-web's tree_json: branches then leaves, each name
// once (the first node of a name wins), ids under the query's base path
// (its text up to the last dot, wildcards and all), and a leading "*"
// node when wildcards is set and there is more than one match.
func treeJSON(nodes []findNode, basePath string, wildcards bool) []treeNode {
	out := []treeNode{}
	if wildcards && len(nodes) > 1 {
		anyBranch := slices.ContainsFunc(nodes, func(n findNode) bool { return !n.leaf })
		out = append(out, newTreeNode("*", basePath+"*", !anyBranch))
	}
	seen := map[string]bool{}
	var branches, leaves []treeNode
	for _, n := range nodes {
		name := n.name()
		if seen[name] {
			continue
		}
		seen[name] = true
		if n.leaf {
			leaves = append(leaves, newTreeNode(name, basePath+name, true))
		} else {
			branches = append(branches, newTreeNode(name, basePath+name, false))
		}
	}
	out = append(out, branches...)
	return append(out, leaves...)
}

type completerNode struct {
	Path   string `json:"path,omitempty"`
	Name   string `json:"name"`
	IsLeaf string `json:"is_leaf,omitempty"`
}

// completerJSON is graphite-web's completer answer: branches' paths end
// in a dot; with wildcards and more than one match a {"name":"*"} last.
func completerJSON(nodes []findNode, wildcards bool) map[string][]completerNode {
	out := []completerNode{}
	for _, n := range nodes {
		c := completerNode{Path: n.path, Name: n.name(), IsLeaf: "0"}
		if n.leaf {
			c.IsLeaf = "1"
		} else {
			c.Path += "."
		}
		out = append(out, c)
	}
	if wildcards && len(out) > 1 {
		out = append(out, completerNode{Name: "*"})
	}
	return map[string][]completerNode{"metrics": out}
}

type jsonNode struct {
	Path      string             `json:"path"`
	IsLeaf    bool               `json:"is_leaf"`
	Intervals []map[string]int64 `json:"intervals,omitempty"`
}

// nodesJSON is graphite-web's format=json find answer.
func nodesJSON(nodes []findNode, iv [2]int64) []jsonNode {
	out := []jsonNode{}
	for _, n := range nodes {
		j := jsonNode{Path: n.path, IsLeaf: n.leaf}
		if n.leaf {
			j.Intervals = []map[string]int64{{"start": iv[0], "end": iv[1]}}
		}
		out = append(out, j)
	}
	return out
}

// nodeList is graphite-web's nodelist: the sorted distinct segments at
// position (Python indexing: -1 is the last).
func nodeList(nodes []findNode, position int) map[string][]string {
	seen := map[string]bool{}
	out := []string{}
	for _, n := range nodes {
		segs := strings.Split(n.path, ".")
		i := position
		if i < 0 {
			i += len(segs)
		}
		if i < 0 || i >= len(segs) || seen[segs[i]] {
			continue
		}
		seen[segs[i]] = true
		out = append(out, segs[i])
	}
	slices.Sort(out)
	return map[string][]string{"nodes": out}
}

// nodesPickle is the cluster protocol's find answer, as graphite-web's
// RemoteFinder reads it: a list of {'path', 'is_leaf', 'intervals'} dicts,
// intervals (leaves only) as a list of (start, end) tuples.
func nodesPickle(nodes []findNode, iv [2]int64) ([]byte, error) {
	list := make([]any, 0, len(nodes))
	for _, n := range nodes {
		d := pickleDict{{"path", n.path}, {"is_leaf", n.leaf}}
		if n.leaf {
			d = append(d, pickleItem{"intervals", []any{pickleTuple{iv[0], iv[1]}}})
		}
		list = append(list, d)
	}
	return appendPickle(nil, list)
}

// handleExpand serves /metrics/expand: the paths each query matches
// (branches too unless leavesOnly=1), one sorted list, or with
// groupByExpr=1 one per query.
func (a *API) handleExpand(w http.ResponseWriter, r *http.Request, p params) error {
	leavesOnly, err := p.intParam("leavesOnly", 0)
	if err != nil {
		return err
	}
	groupByExpr, err := p.intParam("groupByExpr", 0)
	if err != nil {
		return err
	}
	if _, err := p.intParam("local", 0); err != nil {
		return err
	}
	byQuery := map[string][]string{}
	union := map[string]bool{}
	for _, q := range p["query"] {
		nodes, err := a.find(r.Context(), q, leavesOnly != 0)
		if err != nil {
			return err
		}
		paths := []string{}
		for _, n := range nodes {
			paths = append(paths, n.path)
			union[n.path] = true
		}
		byQuery[q] = slices.Compact(paths)
	}
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Cache-Control", "no-cache")
	if groupByExpr != 0 {
		return writeJSON(w, map[string]any{"results": byQuery})
	}
	all := make([]string, 0, len(union))
	for path := range union {
		all = append(all, path)
	}
	slices.Sort(all)
	return writeJSON(w, map[string]any{"results": all})
}

// maxIndexDepth bounds how deep /metrics/index.json looks for leaves.
const maxIndexDepth = 64

// handleIndex serves /metrics/index.json: every leaf path, sorted. It
// finds "*", "*.*", ... until a depth has no branch left.
func (a *API) handleIndex(w http.ResponseWriter, r *http.Request, p params) error {
	all := []string{}
	pattern := "*"
	for depth := 0; depth < maxIndexDepth; depth++ {
		g, _ := sinks.CompileGlob(pattern)
		nodes, err := a.r.Find(r.Context(), g)
		if err != nil {
			return &storeError{fmt.Errorf("failed to find %q: %w", pattern, err)}
		}
		branches := false
		for _, n := range nodes {
			if n.Leaf {
				all = append(all, n.Path)
			}
			branches = branches || n.Branch
		}
		if !branches {
			break
		}
		pattern += ".*"
	}
	slices.Sort(all)
	return writeJSON(w, all)
}

// handleVersion answers graphite-web's version as plain text.
func (a *API) handleVersion(w http.ResponseWriter, r *http.Request, p params) error {
	return writeBody(w, "text/plain; charset=utf-8", []byte(Version+"\n"))
}

// handleFunctions serves /functions (every function expr supports, by
// name, or grouped by group with grouped=1) and /functions/NAME.
func (a *API) handleFunctions(w http.ResponseWriter, r *http.Request, p params) error {
	fns := expr.Functions()
	if name := r.PathValue("name"); name != "" {
		f, ok := fns[name]
		if !ok {
			return &notFound{"function not found: " + name}
		}
		return writeJSON(w, f)
	}
	if p.get("grouped") == "1" || strings.EqualFold(p.get("grouped"), "true") {
		groups := map[string]map[string]expr.FunctionInfo{}
		for name, f := range fns {
			if groups[f.Group] == nil {
				groups[f.Group] = map[string]expr.FunctionInfo{}
			}
			groups[f.Group][name] = f
		}
		return writeJSON(w, groups)
	}
	return writeJSON(w, fns)
}

// handleEmptyList answers the tag and event routes: this store keeps no
// tags or events, and an empty list is what Grafana expects then.
func (a *API) handleEmptyList(w http.ResponseWriter, r *http.Request, p params) error {
	return writeBody(w, "application/json", []byte("[]"))
}
