package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"

	"ringrelay/discovery"
)

// runDrain runs drain or undrain.
func runDrain(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) error {
	c := newCommon(cmd, "-member HOST:PORT [-wait 15s]", stderr)
	member := c.fs.String("member", "", "the member's service endpoint, HOST:PORT as it announces it (required)")
	wait := c.fs.Duration("wait", 15*time.Second, "wait this long for the member's registrar to re-register it (0: do not wait)")
	var reason *string
	if cmd == "drain" {
		reason = c.fs.String("reason", "", "why, kept in the marker for `serverset list`")
	}
	if err := c.parse(args, "member"); err != nil {
		return err
	}
	e, err := discovery.ParseHostPort(*member)
	if err != nil {
		return fmt.Errorf("-member: %w", err)
	}
	if *wait < 0 {
		return fmt.Errorf("-wait %s: want 0 or more", *wait)
	}
	s, log, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	d := drainer{conn: s.conn(), path: c.path, e: e, out: stdout, log: log, wait: *wait}
	if cmd == "drain" {
		return d.drain(ctx, *reason)
	}
	return d.undrain(ctx)
}

// drainer drains or undrains one member and reports what its registrar did.
type drainer struct {
	conn *zk.Conn
	path string
	e    discovery.Endpoint
	out  io.Writer
	log  *zap.Logger
	wait time.Duration
}

func (d drainer) drain(ctx context.Context, reason string) error {
	created, err := discovery.Drain(d.conn, d.path, d.e, drainNote(reason))
	if err != nil {
		return err
	}
	marker := discovery.DrainMarkerPath(d.path, d.e)
	if created {
		fmt.Fprintf(d.out, "drain marker %s created\n", marker)
	} else {
		fmt.Fprintf(d.out, "drain marker %s exists already\n", marker)
	}
	members, err := d.members()
	if err != nil {
		return err
	}
	if len(members) == 0 {
		d.log.Warn("no member announces this address; the marker stays, and a serverset-register for it will start drained",
			zap.String("member", d.e.String()), zap.String("path", d.path), zap.Strings("announced", d.announced()))
		return nil
	}
	if d.wait == 0 {
		return nil
	}
	alive, err := d.waitFor(ctx, func(ms []discovery.ListedChild) bool { return len(aliveOf(ms)) == 0 })
	if err != nil {
		return err
	}
	if len(alive) > 0 {
		d.log.Warn("member still announced ALIVE, so readers still route to it: no serverset-register of ours serves it "+
			"(a Finagle or Aurora announcer or an older serverset-register does not honour drain markers); the marker stays",
			zap.String("member", d.e.String()), zap.Strings("alive", names(alive)), zap.Duration("waited", d.wait))
		return nil
	}
	fmt.Fprintf(d.out, "%s drained: announced %s, readers that take only ALIVE members have dropped it\n", d.e, discovery.StatusDrained)
	return nil
}

func (d drainer) undrain(ctx context.Context) error {
	existed, err := discovery.Undrain(d.conn, d.path, d.e)
	if err != nil {
		return err
	}
	marker := discovery.DrainMarkerPath(d.path, d.e)
	if !existed {
		fmt.Fprintf(d.out, "%s was not drained (no marker %s)\n", d.e, marker)
	} else {
		fmt.Fprintf(d.out, "drain marker %s deleted\n", marker)
	}
	members, err := d.members()
	if err != nil {
		return err
	}
	if len(members) == 0 {
		d.log.Warn("no member announces this address (is its serverset-register running and its check passing?)",
			zap.String("member", d.e.String()), zap.String("path", d.path), zap.Strings("announced", d.announced()))
		return nil
	}
	if d.wait == 0 {
		return nil
	}
	alive, err := d.waitFor(ctx, func(ms []discovery.ListedChild) bool { return len(aliveOf(ms)) > 0 })
	if err != nil {
		return err
	}
	if len(alive) == 0 {
		d.log.Warn("member not announced ALIVE yet: its maintenance file may be present, or its registrar does not honour drain markers",
			zap.String("member", d.e.String()), zap.Strings("members", names(members)), zap.Duration("waited", d.wait))
		return nil
	}
	fmt.Fprintf(d.out, "%s undrained: announced ALIVE by %s\n", d.e, strings.Join(names(alive), ", "))
	return nil
}

// members lists the members announcing d.e (none when the path is
// missing).
func (d drainer) members() ([]discovery.ListedChild, error) {
	all, err := d.allMembers()
	var out []discovery.ListedChild
	for _, c := range all {
		if endpointOf(c) == d.e {
			out = append(out, c)
		}
	}
	return out, err
}

func (d drainer) allMembers() ([]discovery.ListedChild, error) {
	children, err := discovery.ListServerset(d.conn, d.path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []discovery.ListedChild
	for _, c := range children {
		if c.Kind == discovery.KindMember {
			out = append(out, c)
		}
	}
	return out, nil
}

// announced lists the distinct addresses the serverset's members
// announce, for a warning about a -member that matches none.
func (d drainer) announced() []string {
	all, _ := d.allMembers()
	var out []string
	for _, c := range all {
		if a := endpointOf(c).String(); c.Host != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// waitFor lists d.e's members on every change of the serverset until done
// holds or d.wait has passed, and returns the ALIVE ones at the end.
func (d drainer) waitFor(ctx context.Context, done func([]discovery.ListedChild) bool) ([]discovery.ListedChild, error) {
	deadline := time.NewTimer(d.wait)
	defer deadline.Stop()
	for {
		_, _, changed, err := d.conn.ChildrenW(d.path)
		if err != nil {
			return nil, fmt.Errorf("failed to watch serverset %q: %w", d.path, err)
		}
		members, err := d.members()
		if err != nil {
			return nil, err
		}
		if done(members) {
			return aliveOf(members), nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return aliveOf(members), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func aliveOf(ms []discovery.ListedChild) []discovery.ListedChild {
	var out []discovery.ListedChild
	for _, m := range ms {
		if m.Status == discovery.StatusAlive {
			out = append(out, m)
		}
	}
	return out
}

func names(ms []discovery.ListedChild) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// drainNote is the marker's text: who drained it, when, and why.
func drainNote(reason string) string {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		who += "@" + h
	}
	note := fmt.Sprintf("drained by %s at %s", who, time.Now().UTC().Format(time.RFC3339))
	if reason = strings.TrimSpace(reason); reason != "" {
		note += ": " + reason
	}
	return note
}
