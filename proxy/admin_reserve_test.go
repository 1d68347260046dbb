package proxy

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAdminAnswersWhenOutOfFileDescriptors: with every descriptor of the
// process taken, the admin API still answers (it keeps one in reserve).
func TestAdminAnswersWhenOutOfFileDescriptors(t *testing.T) {
	s := startSink(t, "127.0.0.1:0")
	r := startRelay(t, adminAndListener+poolTOML("carbon", "carbon_ch", 1, s.addr))
	url := "http://" + r.AdminAddr().String() + "/ops/status"
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var fill []*os.File
	defer func() {
		for _, f := range fill {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
				t.Fatalf("filling the descriptor table: %v", err)
			}
			break
		}
		fill = append(fill, f)
		if len(fill) > 1<<20 {
			t.Skip("no descriptor limit to reach")
		}
	}
	// One descriptor for the client's own socket; the relay has none left.
	fill[len(fill)-1].Close()
	fill = fill[:len(fill)-1]
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("admin unreachable with the descriptors exhausted: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "carbon") {
		t.Fatalf("GET /ops/status out of descriptors: %d %s", resp.StatusCode, body)
	}
}
