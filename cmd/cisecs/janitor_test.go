package main

import (
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestJanitorUsage: bad flags exit 2, with every problem, before any AWS
// call and with no counts.
func TestJanitorUsage(t *testing.T) {
	awssim.IsolateEnv(t)
	front := awssim.ServeTCP(t, awssim.Options{})
	t.Setenv("AWS_ACCESS_KEY_ID", awssim.TestKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awssim.TestSecret)
	t.Setenv("AWS_REGION", "eu-west-1")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"stray argument", []string{"now"}, `unexpected argument "now"`},
		{"bad timeout", []string{"--timeout", "0s"}, "--timeout 0s: not positive; want a duration like 15m"},
		{"unknown flag", []string{"--dry-run"}, "flag provided but not defined: -dry-run"},
		{"bad run id prefix", []string{"--run-id-prefix", "gh_1*"}, `--run-id-prefix "gh_1*": not the start of a run id`},
		{"builds and a run id prefix", []string{"--builds", "--run-id-prefix", "gh-1-"}, "--builds and --run-id-prefix: choose one"},
		{"bad region", []string{"--region", "EU_WEST_1"}, `--region "EU_WEST_1": not a region name; want one like eu-west-1`},
		{"all at once", []string{"--region", "eu_west_1", "--timeout", "-1m", "now"}, "cisecs janitor: 3 problem(s) in the command line; nothing was done:\n" +
			"  unexpected argument \"now\"\n" +
			"  --region \"eu_west_1\": not a region name; want one like eu-west-1\n" +
			"  --timeout -1m0s: not positive; want a duration like 15m\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, append([]string{"janitor"}, tc.args...)...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	if ops := front.Ops(); len(ops) > 0 {
		t.Errorf("bad flags called AWS: %v", ops)
	}
}
