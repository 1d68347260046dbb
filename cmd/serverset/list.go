package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-zookeeper/zk"

	"ringrelay/discovery"
)

func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("list", "[-json]", stderr)
	asJSON := c.fs.Bool("json", false, "print a JSON array instead of a table")
	if err := c.parse(args); err != nil {
		return err
	}
	s, _, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	children, err := discovery.ListServerset(s.conn(), c.path)
	if errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("serverset %q does not exist on %s", c.path, c.zk)
	}
	if err != nil {
		return err
	}
	now := time.Now()
	if *asJSON {
		return writeJSON(stdout, children, now)
	}
	return writeTable(stdout, children, now)
}

// jsonChild is a listed child as `list -json` prints it.
type jsonChild struct {
	discovery.ListedChild
	Owner      string  `json:"session_owner"`
	AgeSeconds float64 `json:"age_seconds"`
	Usable     bool    `json:"usable"`
}

func writeJSON(w io.Writer, children []discovery.ListedChild, now time.Time) error {
	out := make([]jsonChild, 0, len(children))
	for _, c := range children {
		out = append(out, jsonChild{ListedChild: c, Owner: ownerText(c.Owner),
			AgeSeconds: now.Sub(c.Ctime).Round(time.Millisecond).Seconds(), Usable: c.Usable()})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeTable prints one row per child and a summary line.
func writeTable(w io.Writer, children []discovery.ListedChild, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ZNODE\tHOST\tPORT\tSTATUS\tSHARD\tADDITIONAL\tOWNER\tAGE\tNOTES")
	var members, usable, markers, flagged int
	for _, c := range children {
		switch c.Kind {
		case discovery.KindMember:
			members++
		case discovery.KindDrainMarker:
			markers++
		}
		if c.Usable() {
			usable++
		}
		if len(c.Problems) > 0 {
			flagged++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, orDash(c.Host), portText(c.Port),
			statusText(c), shardText(c.Shard), additionalText(c.Additional), ownerText(c.Owner),
			ageText(now.Sub(c.Ctime)), notesText(c))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d members (%d usable: ALIVE and well-formed), %d drain markers, %d flagged\n",
		members, usable, markers, flagged)
	return err
}

func statusText(c discovery.ListedChild) string {
	switch c.Kind {
	case discovery.KindDrainMarker:
		return "(drain marker)"
	case discovery.KindOther:
		return "(not a member)"
	}
	return orDash(c.Status)
}

func notesText(c discovery.ListedChild) string {
	var notes []string
	switch {
	case c.Kind == discovery.KindDrainMarker:
		notes = append(notes, fmt.Sprintf("drains %s: %s", endpointOf(c), oneLine(c.Data)))
	case c.Kind == discovery.KindMember && c.Drained && c.Status == discovery.StatusAlive:
		notes = append(notes, "drain marker present; its registrar has not re-registered it "+discovery.StatusDrained)
	case c.Kind == discovery.KindMember && c.Drained:
		notes = append(notes, "drained")
	case c.Kind == discovery.KindMember && c.Status != discovery.StatusAlive && len(c.Problems) == 0:
		notes = append(notes, "not ALIVE: readers skip it")
	}
	notes = append(notes, c.Problems...)
	return orDash(strings.Join(notes, "; "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func portText(p int) string {
	if p == 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func shardText(s *int32) string {
	if s == nil {
		return "-"
	}
	return strconv.Itoa(int(*s))
}

func additionalText(m map[string]discovery.Endpoint) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, name+"="+m[name].String())
	}
	return orDash(strings.Join(parts, ","))
}

// ownerText is the session that owns an ephemeral znode, "persistent"
// for none.
func ownerText(owner int64) string {
	if owner == 0 {
		return "persistent"
	}
	return sessionHex(owner)
}

// ageText is a duration for a table: seconds, or the two largest units.
func ageText(d time.Duration) string {
	d = max(d, 0).Truncate(time.Second)
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, (d%time.Hour)/time.Minute)
	}
	return d.String()
}

// oneLine keeps a note on one table line, bounded in length.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
