// Package packertest finds the pinned Packer and its plugin directory for
// tests that run the real tool (make plugins builds and installs both).
package packertest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Tool returns the pinned Packer binary and the plugin directory holding
// the Amazon plugin and ours. Without them the test is skipped, or fails
// under CI=true, where make plugins must have run.
func Tool(tb testing.TB) (packer, plugins string) {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(here), "..", "..", "_bin")
	packer, plugins = filepath.Join(bin, "packer"), filepath.Join(bin, "plugins")
	for _, p := range []string{
		packer,
		filepath.Join(plugins, "github.com", "hashicorp", "amazon"),
		filepath.Join(plugins, "github.com", "cisecs", "cisecs"),
	} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				tb.Fatalf("no %s: CI must run make plugins first: %v", p, err)
			}
			tb.Skipf("no %s (make plugins builds Packer and installs both plugins): %v", p, err)
		}
	}
	return packer, plugins
}
