package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/zap"

	"ringrelay/discovery"
)

func runWatch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := newCommon("watch", "[-resync 30s]", stderr)
	resync := c.fs.Duration("resync", 30*time.Second, "re-list this often even without an event (a watch lost with a connection is then noticed)")
	if err := c.parse(args); err != nil {
		return err
	}
	if *resync <= 0 {
		return fmt.Errorf("-resync %s: want a positive duration", *resync)
	}
	s, log, err := c.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	w := &watcher{s: s, path: c.path, out: stdout, log: log, resync: *resync}
	return w.run(ctx)
}

// watcher prints the changes of one serverset. It lists the path with a
// watch and waits for the watch, a session change (reconnect, new
// session: the listing before and after is compared) or the resync timer,
// then lists again and prints what joined and left.
type watcher struct {
	s      *session
	path   string
	out    io.Writer
	log    *zap.Logger
	resync time.Duration

	known   map[string]discovery.ListedChild // by znode name; nil before the first listing
	armed   <-chan zk.Event                  // pending watch on the path, nil when none
	missing bool                             // the path did not exist at the last listing
}

// run prints events until ctx is done; it returns nil then.
func (w *watcher) run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	backoff := 100 * time.Millisecond
	for {
		if w.s.replace(time.Now()) {
			w.armed = nil // the old client's watch went with it
		}
		conn, err := w.s.ready()
		if err == nil && conn != nil {
			err = w.sync(conn)
		}
		switch {
		case err != nil:
			w.log.Warn("failed to list the serverset; retrying", zap.String("path", w.path), zap.Error(err))
			timer.Reset(backoff)
			backoff = min(2*backoff, 5*time.Second)
		case conn != nil:
			backoff = 100 * time.Millisecond
			timer.Reset(w.resync)
		default:
			// No session: look again soon whether the client must be
			// replaced (its handshake events wake us too).
			timer.Reset(min(w.resync, time.Second))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-w.armed:
			w.armed = nil
		case <-w.s.changed:
		case <-timer.C:
		}
	}
}

// sync lists the path (arming a watch unless one is pending) and prints
// the differences from the last listing.
func (w *watcher) sync(conn *zk.Conn) error {
	if w.armed == nil {
		var err error
		if w.armed, err = w.arm(conn); err != nil {
			return err
		}
	}
	children, err := discovery.ListServerset(conn, w.path)
	missing := errors.Is(err, zk.ErrNoNode)
	if err != nil && !missing {
		return err
	}
	if missing != w.missing {
		w.missing = missing
		if missing {
			w.log.Warn("serverset path does not exist (yet); watching for it", zap.String("path", w.path))
		} else if w.known != nil {
			w.log.Info("serverset path exists", zap.String("path", w.path))
		}
	}
	now := time.Now()
	first := w.known == nil
	next := make(map[string]discovery.ListedChild, len(children))
	for _, c := range children {
		next[c.Name] = c
	}
	var lines []string
	for _, name := range slices.Sorted(maps.Keys(w.known)) {
		if c, ok := next[name]; !ok || !sameZnode(c, w.known[name]) {
			lines = append(lines, eventLine(now, vanishVerb(w.known[name].Kind), w.known[name]))
		}
	}
	for _, c := range children {
		if old, ok := w.known[c.Name]; !ok || !sameZnode(c, old) {
			lines = append(lines, eventLine(now, appearVerb(c.Kind, first), c))
		}
	}
	w.known = next
	for _, l := range lines {
		if _, err := fmt.Fprintln(w.out, l); err != nil {
			return err
		}
	}
	return nil
}

// sameZnode reports whether two listings of a name are the same znode: a
// ZooKeeper that lost its data numbers sequential znodes from 0 again, so
// a new member can have an old one's name.
func sameZnode(a, b discovery.ListedChild) bool {
	return a.Ctime.Equal(b.Ctime) && a.Owner == b.Owner
}

// arm sets a children watch on the path, or an exists watch while it is
// missing (its creation fires it).
func (w *watcher) arm(conn *zk.Conn) (<-chan zk.Event, error) {
	_, _, ch, err := conn.ChildrenW(w.path)
	if errors.Is(err, zk.ErrNoNode) {
		var exists bool
		exists, _, ch, err = conn.ExistsW(w.path)
		if err == nil && exists {
			// Created in between: its exists watch fires on the next
			// change only, so list again with a children watch.
			_, _, ch, err = conn.ChildrenW(w.path)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("failed to watch serverset %q: %w", w.path, err)
	}
	return ch, nil
}

// appearVerb names a child that appeared; the first listing says what is
// there.
func appearVerb(k discovery.ChildKind, first bool) string {
	switch {
	case first:
		return "present"
	case k == discovery.KindMember:
		return "join"
	case k == discovery.KindDrainMarker:
		return "drain"
	}
	return "add"
}

func vanishVerb(k discovery.ChildKind) string {
	switch k {
	case discovery.KindMember:
		return "leave"
	case discovery.KindDrainMarker:
		return "undrain"
	}
	return "remove"
}

// eventLine is one line of watch output:
//
//	2026-11-29T22:10:07.123Z join    member_0000000003  10.0.0.5:2003 ALIVE shard=3
func eventLine(at time.Time, verb string, c discovery.ListedChild) string {
	parts := []string{at.UTC().Format("2006-01-02T15:04:05.000Z"), fmt.Sprintf("%-7s", verb), c.Name}
	switch c.Kind {
	case discovery.KindMember:
		if c.Host != "" {
			parts = append(parts, endpointOf(c).String())
		}
		parts = append(parts, orDash(c.Status))
		if c.Shard != nil {
			parts = append(parts, "shard="+shardText(c.Shard))
		}
		if len(c.Additional) > 0 {
			parts = append(parts, "additional="+additionalText(c.Additional))
		}
		parts = append(parts, "owner="+ownerText(c.Owner))
	case discovery.KindDrainMarker:
		parts = append(parts, endpointOf(c).String())
	default:
		parts = append(parts, "(not a member)")
	}
	if len(c.Problems) > 0 {
		parts = append(parts, "flagged: "+strings.Join(c.Problems, "; "))
	}
	return strings.Join(parts, " ")
}
