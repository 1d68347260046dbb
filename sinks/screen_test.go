package sinks

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestScreenKeepsWhatCanBeStored(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	s := NewScreen(zap.New(core), func() time.Time { return time.Unix(1000, 0) }, func(p *Point, now int64) string {
		if p.Start+100 <= now {
			return "too old"
		}
		return ""
	})
	fresh := []Point{{Path: "a", Resolution: 10, Start: 950}, {Path: "b", Resolution: 10, Start: 990}}
	if got := s.Keep(fresh); &got[0] != &fresh[0] || len(got) != 2 {
		t.Fatal("points that all pass were copied or cut")
	}
	mixed := []Point{{Path: "a", Resolution: 10, Start: 800}, {Path: "b", Resolution: 10, Start: 990}, {Path: "c", Resolution: 10, Start: 700}}
	got := s.Keep(mixed)
	if len(got) != 1 || got[0].Path != "b" || s.Rejected() != 2 {
		t.Fatalf("kept %+v, rejected %d; want b, and 2 rejected", got, s.Rejected())
	}
	if logs.Len() != 1 || logs.All()[0].ContextMap()["reason"] != "too old" {
		t.Fatalf("logged %d lines (%v); want one a minute, naming the reason", logs.Len(), logs.All())
	}
}
