// Package buildinfo says which build of ringrelay is running: the version
// and VCS revision the Go toolchain stamped into the binary, and the Go
// version it was built with. Commands print it for -version and the relay
// exports it as the ringrelay_build_info metric; nothing here is set by
// hand or by linker flags, so a binary cannot claim a build it is not.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Devel is the version of a binary built from a work tree rather than
// installed as a tagged module version, and the revision of one built
// without VCS information (go test binaries, -buildvcs=false).
const Devel = "devel"

// Info is one binary's build.
type Info struct {
	// Version is the main module's version as the go command stamped it
	// (v1.2.3, or a pseudo-version derived from the VCS), else Devel.
	Version string
	// Revision is the VCS commit the binary was built from, else Devel.
	Revision string
	// Modified is set when the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the toolchain that built the binary.
	GoVersion string
}

// Read returns the running binary's build.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: Devel, Revision: Devel, GoVersion: runtime.Version()}
	}
	return From(bi)
}

// From reads an Info out of what debug.ReadBuildInfo returned.
func From(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, Revision: Devel, GoVersion: bi.GoVersion}
	if i.Version == "" || i.Version == "(devel)" {
		i.Version = Devel
	}
	if i.GoVersion == "" {
		i.GoVersion = runtime.Version()
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				i.Revision = s.Value
			}
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// RevisionLabel is the revision with "-modified" appended when the work
// tree had changes: the value of the metric's revision label.
func (i Info) RevisionLabel() string {
	if i.Modified {
		return i.Revision + "-modified"
	}
	return i.Revision
}

// String is what -version prints after the command's name, e.g.
// "v1.2.0 (revision 3f2a..., go1.26.0)".
func (i Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", i.Version, i.RevisionLabel(), i.GoVersion)
}
