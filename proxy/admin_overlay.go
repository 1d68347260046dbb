package proxy

import (
	"net/http"
	"time"

	"go.uber.org/zap"

	"ringrelay/discovery"
)

// OverlayView is a pool's HTTP overlay in /pools: the servers added and
// purged over HTTP, and when, which every rebuild re-applies until
// DELETE /{pool}/overlay clears them.
type OverlayView struct {
	Added  []OverlayEntryView `json:"added"`
	Purged []OverlayEntryView `json:"purged"`
}

// OverlayEntryView is one server of the overlay.
type OverlayEntryView struct {
	Server string    `json:"server"`
	At     time.Time `json:"at"`
}

func overlayView(o discovery.Overlay) OverlayView {
	conv := func(es []discovery.OverlayEntry) []OverlayEntryView {
		out := make([]OverlayEntryView, len(es))
		for i, e := range es {
			out[i] = OverlayEntryView{Server: e.Server.Display(), At: e.At}
		}
		return out
	}
	return OverlayView{Added: conv(o.Added), Purged: conv(o.Purged)}
}

// handleClearOverlay is DELETE /{pool}/overlay: it drops every HTTP
// addition and purge of the pool, so its members are its static servers or
// serverset again, and answers with what it dropped and the members now.
func (r *Relay) handleClearOverlay(w http.ResponseWriter, req *http.Request) {
	p, ok := r.poolFromPath(w, req)
	if !ok {
		return
	}
	dropped := p.Membership().ClearOverlay()
	r.log.Info("http overlay cleared", zap.String("pool", p.name),
		zap.Int("added_dropped", len(dropped.Added)), zap.Int("purges_undone", len(dropped.Purged)))
	writeJSON(w, http.StatusOK, map[string]any{"cleared": overlayView(dropped), "pool": p.members()})
}
