package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbeOldCurl runs the probe with a curl older than 7.75.0, which
// knows no %{errormsg} (it warns and writes nothing for it): the real curl
// behind a wrapper that says it is 7.74.0 and drops the variable as that
// curl does. The probe still says why nothing answered; a curl whose
// version it cannot read is refused with its words.
func TestProbeOldCurl(t *testing.T) {
	needTool(t, "curl")
	real, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, version string
		want          int
		wantMsg       string
	}{
		{"7.74.0", "curl 7.74.0 (x86_64-pc-linux-gnu) libcurl/7.74.0", ProbeExitCredentialsUnreachable, "Failed to connect to 127.0.0.1"},
		{"unreadable", "curl-ng", ProbeExitEnvironment, `curl --version says "curl-ng": not a version`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			wrapper := `#!/bin/sh
if [ "$1" = --version ]; then echo '` + tc.version + `'; exit 0; fi
for a do
	shift
	case $a in
	*'%{errormsg}'*) echo "curl: unknown --write-out variable: 'errormsg'" >&2; a=$(printf '%s' "$a" | sed 's/%{errormsg}//') ;;
	esac
	set -- "$@" "$a"
done
exec ` + real + ` "$@"
`
			if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(wrapper), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			base := "http://" + closedAddr(t)
			env := []string{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" + credsID, "ECS_CONTAINER_METADATA_URI_V4=" + base + "/v4/abc"}
			code, stdout, stderr := runProbe(t, testVars(base), env)
			if code != tc.want || !strings.Contains(stderr, tc.wantMsg) {
				t.Errorf("exit %d, stderr %q; want %d (%s) saying %q\nstdout: %s", code, stderr, tc.want, ProbeExitMeaning(tc.want), tc.wantMsg, stdout)
			}
		})
	}
}
