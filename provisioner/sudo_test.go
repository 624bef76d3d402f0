package provisioner

import (
	"strings"
	"testing"
)

func TestExitErrorSudoLockedOut(t *testing.T) {
	tests := []struct {
		name     string
		err      ExitError
		wantHint bool
	}{
		{"password required under sudo -n", ExitError{Script: "/tmp/x.sh", Command: "sudo -n bash '/tmp/x.sh'; rc=$?", ExitStatus: 1, Stderr: "sudo: a password is required\n"}, true},
		{"script failed under sudo", ExitError{Script: "/tmp/x.sh", Command: "sudo -n bash '/tmp/x.sh'; rc=$?", ExitStatus: 1, Stderr: "cisecs [detect] error: unsupported OS\n"}, false},
		{"no sudo", ExitError{Script: "/tmp/x.sh", Command: "bash '/tmp/x.sh'; rc=$?", ExitStatus: 1, Stderr: "a password is required\n"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.err.Error()
			if got := tc.err.SudoLockedOut(); got != tc.wantHint {
				t.Errorf("SudoLockedOut() = %v, want %v", got, tc.wantHint)
			}
			for _, want := range []string{"Ensure users must provide password for privilege escalation", "/etc/sudoers.d/90-cisecs-build", "cleanup step removes"} {
				if strings.Contains(msg, want) != tc.wantHint {
					t.Errorf("error %q: contains %q is %v, want %v", msg, want, !tc.wantHint, tc.wantHint)
				}
			}
		})
	}
}
