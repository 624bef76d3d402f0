package golden_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlag runs the test binary's own TestChildCheck in a child process,
// as go test ./PKG -update runs a package's: the package registers
// -update for the binary, -update writes the file, and a later render
// that differs fails a real test with the line and the hint.
func TestFlag(t *testing.T) {
	if os.Getenv("GOLDEN_CHILD") != "" {
		t.Skip("the child's own run")
	}
	path := filepath.Join(t.TempDir(), "testdata", "child.golden")
	for _, tc := range []struct {
		name, render string
		update       bool
		want         []string
		fails        bool
	}{
		{"update", "one\ntwo\n", true, []string{"--- PASS: TestChildCheck", "-update: wrote " + path}, false},
		{"same", "one\ntwo\n", false, []string{"--- PASS: TestChildCheck"}, false},
		{"changed", "one\n2\n", false, []string{"--- FAIL: TestChildCheck", path + " differs from the render at line 2", `want: "two\n"`, ` got: "2\n"`, "run go test ./internal/golden -update to accept"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-test.run", "^TestChildCheck$", "-test.v"}
			if tc.update {
				args = append(args, "-update")
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), "GOLDEN_CHILD="+path, "GOLDEN_RENDER="+tc.render)
			out, err := cmd.CombinedOutput()
			if (err != nil) != tc.fails {
				t.Errorf("err %v, want failure %t; output:\n%s", err, tc.fails, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "one\ntwo\n" {
		t.Errorf("golden file %q, %v; want what -update wrote", b, err)
	}
}
