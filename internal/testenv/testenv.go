// Package testenv says whether a test can run on this machine, with one
// policy for every package: a test that needs what the machine lacks (root,
// a command, the pinned Packer) is skipped where a developer runs it, and
// fails under CI=true, where a gate must never pass by skipping. Under
// go test -short (make quick, the fast loop) the tests that need root or
// the pinned Packer are skipped, CI or not: those are make test's.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI says whether the environment says CI=true.
func CI() bool { return os.Getenv("CI") == "true" }

// Lacks stops tb because the machine lacks what: it fails under CI=true and
// skips the test otherwise.
func Lacks(tb testing.TB, what string) {
	tb.Helper()
	if CI() {
		tb.Fatalf("%s, and CI=true forbids skipping", what)
	}
	tb.Skip(what)
}

// Root stops tb unless it runs as root (network namespaces, netfilter,
// mounts), and under -short: a test that needs root is make test's, not
// make quick's.
func Root(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("%s needs root: not in -short (make quick); make test runs it", what)
	}
	if os.Geteuid() != 0 {
		Lacks(tb, what+" needs root")
	}
}

// Heavy skips tb under -short: it needs the pinned Packer or runs for
// long, and make test runs it.
func Heavy(tb testing.TB, what string) {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("%s: not in -short (make quick); make test runs it", what)
	}
}

// Tool returns the path of the command name on PATH, or stops tb (see
// Lacks) saying how to get it.
func Tool(tb testing.TB, name, install string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Lacks(tb, name+" is not installed ("+install+")")
	}
	return p
}
