package main

import (
	"strings"
	"testing"
)

// TestHelp: every command's -h and --help prints its usage on stdout and
// exits 0; a flag it does not know exits 2 with the error and the usage on
// stderr.
func TestHelp(t *testing.T) {
	for name := range commands() {
		t.Run(name, func(t *testing.T) {
			usage := "usage: cisecs " + name
			for _, h := range []string{"-h", "--help", "-help"} {
				code, stdout, stderr := runCmd(t, name, h)
				if code != 0 || !strings.HasPrefix(stdout, usage) || !strings.Contains(stdout, "\n") || stderr != "" {
					t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 0, the usage, nothing", name, h, code, stdout, stderr)
				}
			}
			code, stdout, stderr := runCmd(t, name, "--no-such-flag")
			if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "flag provided but not defined: -no-such-flag\n"+usage) {
				t.Errorf("%s --no-such-flag: exit %d, stdout %q, stderr %q; want 2, nothing, the error and the usage", name, code, stdout, stderr)
			}
		})
	}
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		code, stdout, stderr := runCmd(t, args...)
		if code != 0 || !strings.HasPrefix(stdout, "usage: cisecs <command>") || stderr != "" {
			t.Errorf("cisecs %q: exit %d, stdout %q, stderr %q; want 0, the usage, nothing", args, code, stdout, stderr)
		}
	}
}
