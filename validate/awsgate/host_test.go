package awsgate_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestRebootNeverHappens: a reboot that does not happen (the boot id
// never changes) fails closed, with a timeout.
func TestRebootNeverHappens(t *testing.T) {
	lat := briefLatencies()
	lat.RebootDown = awssim.Never
	inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
		b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Reboot = 4 * time.Minute })
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		start := time.Now()
		err := b.Reboot(t.Context())
		var te *awsgate.TimeoutError
		if !errors.As(err, &te) || !strings.Contains(te.Wait, "rebooted: a boot id other than") || te.After != 4*time.Minute {
			t.Errorf("Reboot: %v, want a 4m timeout waiting for a new boot id", err)
		}
		if took := time.Since(start); took < 4*time.Minute || took > 4*time.Minute+5*time.Second {
			t.Errorf("Reboot gave up after %s, want 4m", took)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestDiagnosticsFailures: a command that fails still gives its output and
// stderr; one that cannot be sent is an error, and the others' output is
// still returned.
func TestDiagnosticsFailures(t *testing.T) {
	o := awssim.Options{
		Latencies: briefLatencies(),
		Command: func(cmd string) (string, string, bool) {
			if cmd == "nft list ruleset" {
				return "", "sh: nft: command not found", false
			}
			return "ok: " + cmd, "", true
		},
		Fault: func(op string, n int) *awssim.APIError {
			if op == "SendCommand" && n == 1 {
				return &awssim.APIError{Code: "InvalidInstanceId", Message: "scripted failure"}
			}
			return nil
		},
	}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if _, err := b.Diagnostics(t.Context()); err == nil {
			t.Error("Diagnostics before Launch succeeded")
		}
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		got, err := b.Diagnostics(t.Context())
		if err == nil || !strings.Contains(err.Error(), "InvalidInstanceId") {
			t.Errorf("Diagnostics error %v, want the failed SendCommand", err)
		}
		if len(got) != len(awsgate.DiagnosticCommands())-1 {
			t.Errorf("Diagnostics gave %d outputs, want %d: %q", len(got), len(awsgate.DiagnosticCommands())-1, got)
		}
		if nft, ok := got["nft list ruleset"]; ok && (!strings.Contains(nft, "SSM status Failed") || !strings.Contains(nft, "nft: command not found")) {
			t.Errorf("output of the failed command %q: want its status and stderr", nft)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestReboot: Reboot proves the reboot by the kernel's boot id, read
// through SSM before and after, then waits for the agent connected again;
// whether and when ECS reports the agent disconnected does not matter.
// ECS reports a lost agent late, and never for a reboot shorter than its
// delay: a check that waits for agentConnected=false times out then.
func TestReboot(t *testing.T) {
	for _, tc := range []struct {
		name           string
		disconnectSeen time.Duration
	}{
		{"disconnect seen at once", 0},
		{"disconnect seen late", 30 * time.Second},
		{"disconnect never seen", awssim.Never},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lat := briefLatencies()
			lat.DisconnectSeen = tc.disconnectSeen
			inBubble(t, awssim.Options{Latencies: lat}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Reboot = 5 * time.Minute })
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				id := b.Instance()
				before := e.front.BootID(id, time.Now())
				start := time.Now()
				if err := b.Reboot(t.Context()); err != nil {
					t.Fatalf("Reboot: %v", err)
				}
				// 5 s to read the boot id (4 s command, 5 s poll), the
				// host up 60 s after RebootInstances, a read of the new
				// boot id then: about 75 s, not the 5 minutes of a wait
				// for a disconnect never reported.
				if took := time.Since(start); took < time.Minute || took > 2*time.Minute {
					t.Errorf("Reboot took %s, want about 75s", took)
				}
				if after := e.front.BootID(id, time.Now()); after == before {
					t.Errorf("boot id %s after the reboot, the same as before", after)
				}
				cmds := e.front.Commands(id)
				if len(cmds) < 2 || !slices.Equal(cmds[0], []string{awsgate.BootIDCommand}) || !slices.Equal(cmds[len(cmds)-1], []string{awsgate.BootIDCommand}) {
					t.Errorf("commands %q: want the boot id read before and after the reboot", cmds)
				}
				if got, err := b.RunProbe(t.Context(), probes[0]); err != nil || got.ExitCode != 0 {
					t.Errorf("RunProbe after the reboot = %+v, %v; want exit 0", got, err)
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestRebootReconnectIsNotReboot: the reboot is asked for but does not
// happen, and the agent reconnects to ECS (agentConnected false, then true
// again), as it does when its connection drops. That is no reboot: the
// boot id has not changed, and Reboot fails closed, with a timeout.
func TestRebootReconnectIsNotReboot(t *testing.T) {
	lat := briefLatencies()
	lat.RebootDown = awssim.Never // the host never goes down
	var reconnect func()
	o := awssim.Options{
		Latencies: lat,
		Handled: func(op string, n int) {
			if op == "RebootInstances" && n == 1 {
				reconnect()
			}
		},
	}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Reboot = 4 * time.Minute })
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		reconnect = func() {
			if !e.front.ReconnectAgent(b.Instance(), 30*time.Second) {
				t.Errorf("ReconnectAgent(%s): no such instance", b.Instance())
			}
		}
		err := b.Reboot(t.Context())
		var te *awsgate.TimeoutError
		if !errors.As(err, &te) || !strings.Contains(te.Wait, "a boot id other than") || !strings.Contains(te.Last, "unchanged") {
			t.Errorf("Reboot: %v, want a timeout waiting for a new boot id", err)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}

// TestRebootSSMNotYetOnline: SSM cannot reach the instance at first
// (InvalidInstanceId, as before its SSM agent is online): Reboot asks
// again for the boot id before the reboot, and goes on.
func TestRebootSSMNotYetOnline(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), Fault: failOnce("SendCommand", "InvalidInstanceId")}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if err := b.Launch(t.Context(), probes); err != nil {
			t.Fatalf("Launch: %v", err)
		}
		if err := b.Reboot(t.Context()); err != nil {
			t.Fatalf("Reboot: %v", err)
		}
		if got := e.front.Calls("RebootInstances"); got != 1 {
			t.Errorf("%d RebootInstances, want 1", got)
		}
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
	})
}
