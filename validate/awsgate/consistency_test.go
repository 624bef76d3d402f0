package awsgate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestCleanupRightAfterLaunch: EC2 is eventually consistent, and for a
// while after RunInstances answers it answers InvalidInstanceID.NotFound
// for the new id (and lists it under no tag). A Launch that fails then
// (CreateCluster refused, 1 s after the instance started) is cleaned up at
// once: Cleanup must not take the instance for gone, but look again until
// EC2 shows it, and terminate it.
func TestCleanupRightAfterLaunch(t *testing.T) {
	lat := briefLatencies()
	lat.InstanceVisible = 20 * time.Second
	o := awssim.Options{Latencies: lat, Fault: failOnce("CreateCluster", "AccessDeniedException")}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if err := b.Launch(t.Context(), probes); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Fatalf("Launch: %v, want the CreateCluster failure", err)
		}
		if b.Instance() == "" {
			t.Fatal("Launch started no instance: the test needs one")
		}
		start := time.Now()
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("Cleanup took %s, want less than 2m (20 s to see the instance, 30 s to terminate it)", took)
		}
		if got := e.front.Calls("TerminateInstances"); got != 1 {
			t.Errorf("%d TerminateInstances, want 1", got)
		}
	})
}

// TestLaunchInstanceNotYetShown: while EC2 does not yet show the new
// instance (InvalidInstanceID.NotFound), Launch waits for it to run as
// for any other state, and takes no longer for it.
func TestLaunchInstanceNotYetShown(t *testing.T) {
	lat := briefLatencies()
	lat.InstanceVisible = 20 * time.Second
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		start := time.Now()
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if took := time.Since(start); took != 61*time.Second {
			t.Errorf("Launch took %s, want 61s", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}
