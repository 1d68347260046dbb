package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"ringrelay/internal/testio"
	"ringrelay/internal/zktest"
)

// TestDevZookeeperScript follows the walkthrough's first steps: the
// script prints a connect string that serverset can use, and Ctrl-C (a
// SIGINT to its process group) stops the server and removes its files.
func TestDevZookeeperScript(t *testing.T) {
	zktest.Requirements(t)
	script, err := filepath.Abs("../../scripts/dev-zookeeper.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, as a terminal's foreground job
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testio.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // no-op once it has exited
		<-exited
		exited <- nil
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
	}()
	var addr string
	select {
	case addr = <-lines:
	case <-time.After(waitLimit):
		t.Fatalf("no connect string within %v; stderr:\n%s", waitLimit, stderr.String())
	}
	if !regexp.MustCompile(`^127\.0\.0\.1:[0-9]+$`).MatchString(addr) {
		t.Fatalf("first stdout line %q, want 127.0.0.1:PORT; stderr:\n%s", addr, stderr.String())
	}
	out, errOut, err := runCmd(t, "drain", "-zk", addr, "-path", "/discovery/dev/carbon", "-member", "127.0.0.1:2003")
	if err != nil || !strings.Contains(out, "drain marker /discovery/dev/carbon/drain-127.0.0.1:2003 created") {
		t.Fatalf("drain against the script's server: %v\n%s\n%s", err, out, errOut)
	}
	dir := regexp.MustCompile(`log (/tmp/dev-zookeeper\.[A-Za-z0-9]+)/zookeeper\.log`).FindStringSubmatch(stderr.String())
	if dir == nil {
		t.Fatalf("stderr does not name the server's log:\n%s", stderr.String())
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
			t.Errorf("exit after Ctrl-C: %v, want status 130", err)
		}
	case <-time.After(waitLimit):
		t.Fatalf("still running %v after SIGINT", waitLimit)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Errorf("work dir %s still there after Ctrl-C (%v)", dir[1], err)
	}
	if !strings.Contains(stderr.String(), "dev-zookeeper: stopped") {
		t.Errorf("stderr lacks the stop message:\n%s", stderr.String())
	}
}
