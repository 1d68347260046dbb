package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"ringrelay/internal/zktest"
)

// repoRoot is the top of the repository, where docker-compose.yml, the
// Dockerfile and deploy/ live.
const repoRoot = "../.."

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestComposeFileIsValid asks Debian's docker-compose to validate
// docker-compose.yml (syntax, schema, anchors, depends_on conditions). It
// needs no Docker daemon.
func TestComposeFileIsValid(t *testing.T) {
	compose, err := exec.LookPath("docker-compose")
	if err != nil {
		zktest.MissingTool(t, "docker-compose not found (apt-get install -y docker-compose)")
	}
	cmd := exec.Command(compose, "-f", "docker-compose.yml", "config", "-q")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose -f docker-compose.yml config -q: %v\n%s", err, out)
	}
}

// composeMounts are the host paths under ./deploy that docker-compose.yml
// mounts, as written there ("./deploy/relay.toml").
var composeMounts = regexp.MustCompile(`\./deploy/[\w./-]+`)

// TestComposeRelayConfigsValidate loads every relay config the compose
// file mounts with the relay's own loader, and makes sure no config in
// deploy/ is left unmounted (and so untested by a deployment).
func TestComposeRelayConfigsValidate(t *testing.T) {
	compose := readRepoFile(t, "docker-compose.yml")
	var mounted []string
	for _, m := range composeMounts.FindAllString(compose, -1) {
		p := filepath.Join(repoRoot, m)
		if _, err := os.Stat(p); err != nil {
			t.Errorf("docker-compose.yml mounts %s: %v", m, err)
			continue
		}
		if strings.HasSuffix(m, ".toml") && !slices.Contains(mounted, p) {
			mounted = append(mounted, p)
		}
	}
	if len(mounted) < 2 {
		t.Fatalf("docker-compose.yml mounts relay configs %q; want the relay tier's and the aggregators'", mounted)
	}
	for _, p := range mounted {
		t.Run(filepath.Base(p), func(t *testing.T) {
			if code, out, errs := runArgs(t, "", "-check-config", "-config", p); code != 0 {
				t.Errorf("relay -check-config -config %s: code %d, stdout %q, stderr %q", p, code, out, errs)
			}
		})
	}
	all, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if !slices.Contains(mounted, p) {
			t.Errorf("%s is not mounted by docker-compose.yml", p)
		}
	}
}

// serversetKey is a pool's serverset = "PATH" line in a relay config.
var serversetKey = regexp.MustCompile(`(?m)^serverset\s*=\s*"([^"]+)"`)

// TestComposeServersetsHaveRegistrars checks that every serverset a
// compose relay follows is one a serverset-register sidecar in the compose
// file writes to: a typo on either side would leave a pool empty.
func TestComposeServersetsHaveRegistrars(t *testing.T) {
	compose := readRepoFile(t, "docker-compose.yml")
	configs, err := filepath.Glob(filepath.Join(repoRoot, "deploy", "*.toml"))
	if err != nil {
		t.Fatal(err)
	}
	var paths int
	for _, c := range configs {
		text, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range serversetKey.FindAllStringSubmatch(string(text), -1) {
			paths++
			if !strings.Contains(compose, `"-path", "`+m[1]+`"`) {
				t.Errorf("%s follows serverset %q, but no serverset-register in docker-compose.yml has -path %q", filepath.Base(c), m[1], m[1])
			}
		}
	}
	if paths == 0 {
		t.Fatal("no serverset in deploy/*.toml: the compose relays should follow the registered backends")
	}
}

// TestImageBuildsEveryCommand keeps the Dockerfile's build line in step
// with cmd/: each command directory is built into the image.
func TestImageBuildsEveryCommand(t *testing.T) {
	dockerfile := readRepoFile(t, "Dockerfile")
	cmds, err := filepath.Glob(filepath.Join(repoRoot, "cmd", "*", "main.go"))
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no commands under cmd/ (%v)", err)
	}
	for _, c := range cmds {
		pkg := "./cmd/" + filepath.Base(filepath.Dir(c))
		if !regexp.MustCompile(regexp.QuoteMeta(pkg) + `(\s|$)`).MatchString(dockerfile) {
			t.Errorf("Dockerfile does not build %s", pkg)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-buildvcs=true", "\nUSER "} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("Dockerfile lacks %q (static binaries stamped with their revision, run as non-root)", want)
		}
	}
}

// TestDockerignoreKeepsVCSStamping checks .dockerignore against what the
// go command needs to stamp the revision: .git is in the build context,
// and only files git ignores too are left out (a tracked file missing
// from the context would read as a modified tree).
func TestDockerignoreKeepsVCSStamping(t *testing.T) {
	ignored := patterns(readRepoFile(t, ".gitignore"))
	excluded := patterns(readRepoFile(t, ".dockerignore"))
	if len(excluded) == 0 {
		t.Fatal(".dockerignore excludes nothing; want at least the build outputs .gitignore names")
	}
	for _, p := range excluded {
		if strings.Contains(p, ".git") && !strings.HasPrefix(p, "!") {
			t.Errorf(".dockerignore excludes %q: the go command reads the revision from .git", p)
		}
		if !slices.Contains(ignored, p) {
			t.Errorf(".dockerignore excludes %q, which .gitignore does not ignore: a tracked file left out would stamp the binaries -modified", p)
		}
	}
}

// patterns are the non-comment, non-blank lines of an ignore file.
func patterns(text string) []string {
	var ps []string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			ps = append(ps, l)
		}
	}
	return ps
}
