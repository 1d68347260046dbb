//go:build !unix

package discovery

import "os/exec"

func setProcessGroup(*exec.Cmd) {}
