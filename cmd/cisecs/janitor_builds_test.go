package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestJanitorBuilds: --builds sweeps an account's build leftovers and
// prints a count of each kind, none here.
func TestJanitorBuilds(t *testing.T) {
	awssim.IsolateEnv(t)
	// Boot plays a build's EC2 (key pairs, groups, volumes, AMIs); this
	// account has no build running, so nothing boots.
	front := awssim.ServeTCP(t, awssim.Options{Boot: func(context.Context, awssim.Launch) (awssim.Host, error) {
		return awssim.Host{}, errors.New("no build here")
	}})
	t.Setenv("AWS_ACCESS_KEY_ID", awssim.TestKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awssim.TestSecret)
	t.Setenv("AWS_REGION", "eu-west-1")
	code, stdout, stderr := runCmd(t, "janitor", "--builds")
	if code != 0 || strings.Count(stdout, ": 0 \n") != 6 || !strings.Contains(stdout, "janitor: deregistered unfinished AMIs: 0") {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and six zero counts", code, stdout, stderr)
	}
	for _, op := range []string{"DescribeInstances", "DescribeKeyPairs", "DescribeVolumes", "DescribeSecurityGroups", "DescribeImages", "DescribeSnapshots"} {
		if front.Calls(op) == 0 {
			t.Errorf("no %s: the sweep did not look", op)
		}
	}
}
