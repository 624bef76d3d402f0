package awsgate_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestCleanupAgentGone: when the instance's ECS agent is gone (dead, its
// instance still running, or its instance terminated while it was seen
// disconnected), ECS never stops its tasks by itself: a StopTask leaves
// them RUNNING, desired STOPPED, until the container instance is
// deregistered by force. Cleanup deregisters such a container instance
// first and does not wait on its tasks: it finishes in about the time the
// instance takes to terminate, not the task timeout, and leaves nothing.
func TestCleanupAgentGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		// gone makes the agent go, after the task started.
		gone func(t *testing.T, e *env, b *awsgate.Backend)
	}{
		{"agent dead", func(t *testing.T, e *env, b *awsgate.Backend) {
			if !e.front.KillAgent(b.Instance()) {
				t.Fatalf("KillAgent(%s): not the front's", b.Instance())
			}
		}},
		{"agent dead, instance terminated", func(t *testing.T, e *env, b *awsgate.Backend) {
			e.front.KillAgent(b.Instance())
			time.Sleep(time.Minute) // ECS sees the agent disconnected
			if _, err := e.ec2.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{b.Instance()}}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lat := briefLatencies()
			lat.DisconnectSeen = 30 * time.Second
			inBubble(t, awssim.Options{Latencies: lat, Probe: holdingProbe}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Task = 20 * time.Minute })
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				if _, err := b.StartTask(t.Context(), validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
					t.Fatalf("StartTask: %v", err)
				}
				tc.gone(t, e, b)
				time.Sleep(time.Minute) // ECS sees the agent disconnected

				start := time.Now()
				err := b.Cleanup(context.Background())
				took := time.Since(start)
				if err != nil {
					t.Errorf("Cleanup: %v", err)
				}
				// 30 s to terminate, polled every 5 s: well under the
				// 20-minute task timeout a wait for the tasks burns.
				if took > 2*time.Minute {
					t.Errorf("Cleanup took %s, want about the 30s the instance takes to terminate", took)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestJanitorAgentGone: a killed run whose agent died leaves a task ECS
// never stops by itself; the janitor deregisters its container instance
// by force instead of waiting for the task, and leaves nothing.
func TestJanitorAgentGone(t *testing.T) {
	lat := briefLatencies()
	lat.DisconnectSeen = 30 * time.Second
	inBubble(t, awssim.Options{Latencies: lat, Probe: holdingProbe}, func(t *testing.T, e *env) {
		b := e.backend(t, func(o *awsgate.Options) { o.TTL = time.Hour })
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if _, err := b.StartTask(t.Context(), validate.Probe{Mode: validate.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
			t.Fatalf("StartTask: %v", err)
		}
		e.front.KillAgent(b.Instance())
		// The run was killed: nobody calls its Cleanup.
		time.Sleep(time.Minute)

		j := awsgate.Janitor{EC2: e.ec2, ECS: e.ecs, PollInterval: 5 * time.Second, Timeout: 20 * time.Minute}
		start := time.Now()
		swept, err := j.Sweep(t.Context(), time.Now().Add(2*time.Hour))
		if err != nil {
			t.Errorf("Sweep: %v", err)
		}
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("Sweep took %s, want about the 30s the instance takes to terminate", took)
		}
		if len(swept.Clusters) != 1 {
			t.Errorf("swept clusters %q, want the run's", swept.Clusters)
		}
		e.assertClean(t, runID(t))
	})
}
