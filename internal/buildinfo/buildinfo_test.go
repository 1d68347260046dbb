package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bi       debug.BuildInfo
		want     Info
		wantText string
	}{
		{
			name: "work tree build with VCS stamps",
			bi: debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "3f2a9c"}, {Key: "vcs.modified", Value: "true"}}},
			want:     Info{Version: Devel, Revision: "3f2a9c", Modified: true, GoVersion: "go1.26.0"},
			wantText: "devel (revision 3f2a9c-modified, go1.26.0)",
		},
		{
			name: "installed module version",
			bi: debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "false"}}},
			want:     Info{Version: "v1.2.0", Revision: "abc", GoVersion: "go1.26.1"},
			wantText: "v1.2.0 (revision abc, go1.26.1)",
		},
		{
			name:     "no stamps at all (go test, -buildvcs=false)",
			bi:       debug.BuildInfo{},
			want:     Info{Version: Devel, Revision: Devel, GoVersion: runtime.Version()},
			wantText: "devel (revision devel, " + runtime.Version() + ")",
		},
	} {
		got := From(&tc.bi)
		if got != tc.want {
			t.Errorf("%s: From = %+v, want %+v", tc.name, got, tc.want)
		}
		if s := got.String(); s != tc.wantText {
			t.Errorf("%s: String = %q, want %q", tc.name, s, tc.wantText)
		}
	}
}

// TestReadTheRunningBinary: a test binary is stamped with its Go version
// and, built inside the module, has no release version.
func TestReadTheRunningBinary(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() {
		t.Errorf("GoVersion = %q, want the running toolchain's %q", i.GoVersion, runtime.Version())
	}
	if i.Version == "" || i.Revision == "" || strings.Contains(i.Version, "(") {
		t.Errorf("Read = %+v: want a version and a revision, %q when unknown", i, Devel)
	}
}
