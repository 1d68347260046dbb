package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// examplesDir is examples/ at the top of the repository.
const examplesDir = "../../examples"

// exampleConfigs are the example relay configs; every *.toml in the
// directory is one, so a new example is tested without a new test.
func exampleConfigs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("examples: found %d configs %q, want the four topologies at least", len(files), files)
	}
	return files
}

// TestExamplesPassCheckConfig loads each example as `relay -check-config`
// does: strict decoding, defaults, validation.
func TestExamplesPassCheckConfig(t *testing.T) {
	for _, f := range exampleConfigs(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runArgs(t, "", "-check-config", "-config", f)
			if code != 0 || !strings.Contains(out, "is valid") {
				t.Errorf("relay -check-config -config %s: code %d, stdout %q, stderr %q; want 0 and \"is valid\"", f, code, out, errs)
			}
		})
	}
}

// TestSharedTestConfigsPassCheckConfig: the relay configs in the top-level
// testdata (fixtures other packages' tests run) load as relay -check-config
// loads them.
func TestSharedTestConfigsPassCheckConfig(t *testing.T) {
	files, err := filepath.Glob("../../testdata/configs/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/configs: %q, %v", files, err)
	}
	for _, f := range files {
		code, out, errs := runArgs(t, "", "-check-config", "-config", f)
		if code != 0 || !strings.Contains(out, "is valid") {
			t.Errorf("relay -check-config -config %s: code %d, stdout %q, stderr %q", f, code, out, errs)
		}
	}
}

// TestExamplesREADMENamesEveryFile keeps examples/README.md in step with
// the directory: each config and unit is described there.
func TestExamplesREADMENamesEveryFile(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(examplesDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	units, err := filepath.Glob(filepath.Join(examplesDir, "systemd", "*.service"))
	if err != nil {
		t.Fatal(err)
	}
	if len(units) < 2 {
		t.Fatalf("examples/systemd: found %q, want ringrelay.service and ringrelay-register@.service", units)
	}
	for _, f := range append(exampleConfigs(t), units...) {
		if name := filepath.Base(f); !strings.Contains(string(readme), name) {
			t.Errorf("examples/README.md does not mention %s", name)
		}
	}
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on the example
// units. It needs the binaries they start to exist, so it verifies copies
// whose /usr/local/bin/{relay,serverset-register} are this test binary
// (verify checks that a command is executable, it does not run it). A
// warning about a unit (an unknown key, a value it ignores) fails the test
// as an error does: systemd-analyze exits 0 on those.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("skipping: systemd-analyze not found; verifying the units is optional, not a CI requirement")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	units, err := filepath.Glob(filepath.Join(examplesDir, "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("examples/systemd: no units (%v)", err)
	}
	binaries := strings.NewReplacer("/usr/local/bin/relay", self, "/usr/local/bin/serverset-register", self)
	for _, u := range units {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(u)), []byte(binaries.Replace(string(text))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range units {
		name := filepath.Base(u)
		// A template is verified through an instance, which systemd
		// loads from the template beside it.
		verified := strings.Replace(name, "@.", "@example.", 1)
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, verified))
			out, err := cmd.CombinedOutput()
			var ours []string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, dir) || strings.Contains(line, verified) {
					ours = append(ours, line)
				}
			}
			if err != nil || len(ours) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, strings.Join(ours, "\n"))
			}
		})
	}
}
