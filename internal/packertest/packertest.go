// Package packertest finds the pinned Packer and its plugin directory for
// tests that run the real tool (make plugins builds and installs both).
package packertest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cisecs/cisecs/internal/testenv"
)

// Tool returns the pinned Packer binary and the plugin directory holding
// the Amazon plugin and ours. Without them the test is skipped, or fails
// under CI=true, where make plugins must have run; under -short (make
// quick) it is skipped.
func Tool(tb testing.TB) (packer, plugins string) {
	tb.Helper()
	testenv.Heavy(tb, "runs the pinned Packer")
	_, here, _, _ := runtime.Caller(0)
	bin := filepath.Join(filepath.Dir(here), "..", "..", "_bin")
	packer, plugins = filepath.Join(bin, "packer"), filepath.Join(bin, "plugins")
	for _, p := range []string{
		packer,
		filepath.Join(plugins, "github.com", "hashicorp", "amazon"),
		filepath.Join(plugins, "github.com", "cisecs", "cisecs"),
	} {
		if _, err := os.Stat(p); err != nil {
			testenv.Lacks(tb, fmt.Sprintf("no %s (make plugins builds Packer and installs both plugins): %v", p, err))
		}
	}
	return packer, plugins
}
