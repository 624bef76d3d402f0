package awsgate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestRunInstancesProfileJustMade: IAM is eventually consistent, and for
// some seconds after an instance profile is made RunInstances refuses it
// (InvalidParameterValue: Invalid IAM Instance Profile name). Launch asks
// again, with backoff, until EC2 takes it.
func TestRunInstancesProfileJustMade(t *testing.T) {
	lat := briefLatencies()
	lat.ProfileVisible = 10 * time.Second
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		e.front.CreateInstanceProfile("cisecs-gate-instance")
		b := e.backend(t, nil)
		start := time.Now()
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		ri := e.front.Requests("RunInstances")
		if len(ri) < 2 {
			t.Errorf("%d RunInstances, want the refused ones asked again", len(ri))
		}
		tokens := map[string]bool{}
		for _, r := range ri {
			tokens[r.Form.Get("ClientToken")] = true
		}
		if len(tokens) != len(ri) || tokens[""] {
			t.Errorf("RunInstances client tokens %v: want a new one for each call", tokens)
		}
		if took := time.Since(start); took > 61*time.Second+20*time.Second {
			t.Errorf("Launch took %s, want at most 20 s more than the 61 s of a launch", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestRunInstancesProfileNeverUsable: a profile EC2 never takes (a name
// that does not exist looks the same) fails Launch after
// awsgate.ProfileRetry, saying so.
func TestRunInstancesProfileNeverUsable(t *testing.T) {
	lat := briefLatencies()
	lat.ProfileVisible = awssim.Never
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		e.front.CreateInstanceProfile("cisecs-gate-instance")
		b := e.backend(t, nil)
		start := time.Now()
		err := b.Launch(t.Context(), probes)
		if err == nil || !strings.Contains(err.Error(), `instance profile "cisecs-gate-instance" still refused after`) || !strings.Contains(err.Error(), "Invalid IAM Instance Profile name") {
			t.Fatalf("Launch: %v, want the profile refused after about 2m", err)
		}
		if took := time.Since(start); took > 3*time.Minute {
			t.Errorf("Launch gave up after %s, want within about 2m", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}
