// Package twintest makes host twins for tests: one call boots a twin of a
// baseline and registers its Close with the test.
package twintest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/testenv"
	"github.com/cisecs/cisecs/validate/twin"
)

// New boots a twin of the named baseline in a state directory of the test
// and closes it when the test ends. It skips the test when the machine
// cannot run a twin (not root, a command missing), unless the environment
// says CI=true: there it fails, so that a gate never passes by skipping.
func New(t testing.TB, baselineName string) *twin.Twin {
	t.Helper()
	return NewWith(t, baselineName, twin.Options{})
}

// NewWith is New with the twin's other options (its baseline and state
// directory are New's).
func NewWith(t testing.TB, baselineName string, opts twin.Options) *twin.Twin {
	t.Helper()
	testenv.Root(t, "host twin")
	b, err := twin.LookupBaseline(baselineName)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts.Baseline, opts.Dir = b, t.TempDir()
	tw, err := twin.New(ctx, opts)
	if errors.Is(err, twin.ErrUnsupported) {
		testenv.Lacks(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tw.Close(); err != nil {
			t.Errorf("close twin: %v", err)
		}
	})
	return tw
}

// ECSInitRulesOnce fails tb unless every rule ecs-init adds is present in
// tw's live ruleset exactly once: a baked copy would run twice after a
// reboot, since ecs-init appends without checking.
func ECSInitRulesOnce(ctx context.Context, tb testing.TB, tw *twin.Twin) {
	tb.Helper()
	rs, err := tw.Ruleset(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for name, n := range rs.ECSInitRuleCounts() {
		if n != 1 {
			tb.Errorf("ecs-init rule %s present %d times, want once", name, n)
		}
	}
}

// Exec runs argv in tw's host and returns its output; it fails tb if the
// command fails.
func Exec(tb testing.TB, tw *twin.Twin, argv ...string) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := tw.Exec(ctx, nil, argv...)
	if err != nil {
		tb.Fatalf("exec %v: %v", argv, err)
	}
	return string(out)
}
