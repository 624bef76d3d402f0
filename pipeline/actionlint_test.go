package pipeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/pipeline"
)

// tool returns the path of a binary the test needs: ../_bin/NAME (the
// pinned tools, make tools), or NAME on PATH when fromPath. Without it the
// test is skipped, or fails under CI=true, where make tools must have run
// and .ci/run installs the Debian packages.
func tool(t *testing.T, name string, fromPath bool) string {
	t.Helper()
	var (
		p   string
		err error
	)
	if fromPath {
		p, err = exec.LookPath(name)
	} else {
		_, here, _, _ := runtime.Caller(0)
		p = filepath.Join(filepath.Dir(here), "..", "_bin", name)
		_, err = os.Stat(p)
	}
	if err != nil {
		testenv.Lacks(t, fmt.Sprintf("no %s (make tools builds the pinned tools; ./run test installs shellcheck): %v", name, err))
	}
	return p
}

// actionlint runs the pinned actionlint, with shellcheck on every run:
// script, on the workflow wf, and returns its output and whether it found
// nothing.
func actionlint(t *testing.T, wf []byte) (string, bool) {
	t.Helper()
	lint := tool(t, "actionlint", false)
	shellcheck := tool(t, "shellcheck", true)
	dir := t.TempDir()
	f := filepath.Join(dir, "cisecs-nightly.yml")
	if err := os.WriteFile(f, wf, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(lint, "-no-color", "-shellcheck", shellcheck, "-pyflakes", "", f)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), true
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return out.String(), false // problems found
	default:
		t.Fatalf("actionlint: %v\n%s", err, out.String())
		return "", false
	}
}

// unpinned returns wf with every action pinned to a commit named by its
// major tag instead: actionlint knows the inputs of actions by their tags,
// and does not check those of a commit.
func unpinned(wf []byte) []byte {
	re := regexp.MustCompile(`(?m)@[0-9a-f]{40} # (v\d+)\.\d+\.\d+$`)
	return re.ReplaceAll(wf, []byte("@$1"))
}

// TestActionlint checks the workflow of every image in images/ with the
// real linter: syntax, expressions and their types, job needs, and
// shellcheck on every script, as rendered; and the inputs of the actions
// used, with each pinned commit named by its major tag.
func TestActionlint(t *testing.T) {
	imgs := load(t)
	pinnedWF := render(t, pipeline.GitHub, imgs)
	if out, ok := actionlint(t, pinnedWF); !ok {
		t.Errorf("actionlint found problems in the rendered workflow:\n%s", out)
	}
	wf := unpinned(pinnedWF)
	if bytes.Equal(wf, pinnedWF) {
		t.Fatal("no pinned action to name by its tag")
	}
	if out, ok := actionlint(t, wf); !ok {
		t.Errorf("actionlint found problems in the workflow with tags for commits:\n%s", out)
	}

	// The linter is awake: each flaw below is found.
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown action input", "persist-credentials: false", "persist-credential: false", `input "persist-credential" is not defined`},
		{"unknown job output", "needs.plan.outputs.any == 'true'", "needs.plan.outputs.due == 'true'", `property "due" is not defined`},
		{"unquoted variable", `echo "$NAME: $verdict"`, `echo $NAME: $verdict`, "SC2086"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(wf), tc.old, tc.new, 1)
			if bad == string(wf) {
				t.Fatalf("no %q in the workflow to break", tc.old)
			}
			out, ok := actionlint(t, []byte(bad))
			if ok || !strings.Contains(out, tc.want) {
				t.Errorf("actionlint did not report %q:\n%s", tc.want, out)
			}
		})
	}
}
