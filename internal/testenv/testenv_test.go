package testenv_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPolicy runs a test binary's own helper tests in a child process under
// each environment and reads what they did: a lack skips without CI and
// fails with it.
func TestPolicy(t *testing.T) {
	if os.Getenv("TESTENV_CHILD") != "" {
		t.Skip("the child's own run")
	}
	for _, tc := range []struct {
		name, ci, want string
		fails          bool
	}{
		{"developer", "", "--- SKIP: TestChildLacks", false},
		{"ci", "true", "--- FAIL: TestChildLacks", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run", "^TestChildLacks$", "-test.v")
			cmd.Env = append(os.Environ(), "TESTENV_CHILD=1", "CI="+tc.ci)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "no-such-tool-for-testenv is not installed (apt-get install it)") {
				t.Errorf("CI=%q: err %v, output:\n%s\nwant %q and the reason", tc.ci, err, out, tc.want)
			}
		})
	}
}
