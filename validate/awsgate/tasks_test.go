package awsgate_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestProbeOutcomes reads back how probes end: the container's exit code
// and ECS's reasons.
func TestProbeOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		run        awssim.Run
		wantExit   int
		wantReason []string
	}{{
		name:       "pass",
		run:        awssim.Run{ExitCode: awssim.Exit(0)},
		wantExit:   0,
		wantReason: []string{"Essential container in task exited"},
	}, {
		name:       "credentials for another role",
		run:        awssim.Run{ExitCode: awssim.Exit(11), Reason: "cisecs-probe: FAIL: credentials for role x"},
		wantExit:   11,
		wantReason: []string{"Essential container in task exited", "container: cisecs-probe: FAIL: credentials for role x"},
	}, {
		name:       "image pull fails",
		run:        awssim.Run{NeverStarts: true, For: 20 * time.Second, Reason: "CannotPullContainerError: pull access denied", StoppedReason: "Task failed to start"},
		wantExit:   -1,
		wantReason: []string{"Task failed to start", "container: CannotPullContainerError: pull access denied", "stop code TaskFailedToStart"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: func(awssim.TaskDefinition) awssim.Run { return tt.run }}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, nil)
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				got, err := b.RunProbe(t.Context(), probes[0])
				if err != nil {
					t.Fatalf("RunProbe: %v", err)
				}
				if got.ExitCode != tt.wantExit {
					t.Errorf("exit code %d, want %d", got.ExitCode, tt.wantExit)
				}
				for _, r := range tt.wantReason {
					if !strings.Contains(got.Reason, r) {
						t.Errorf("reason %q lacks %q", got.Reason, r)
					}
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestTaskFailures covers a held probe that stops instead of running, a
// probe that never stops, and Ctrl-C while a probe runs.
func TestTaskFailures(t *testing.T) {
	held := validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}
	tests := []struct {
		name string
		run  awssim.Run
		do   func(ctx context.Context, b *awsgate.Backend) error
		want func(t *testing.T, err error)
	}{{
		name: "held probe exits at once",
		run:  awssim.Run{ExitCode: awssim.Exit(10), For: time.Second},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			_, err := b.StartTask(ctx, held)
			return err
		},
		want: func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "exit code 10") {
				t.Errorf("StartTask error %v: want one that says it stopped with exit code 10", err)
			}
		},
	}, {
		name: "probe never stops",
		run:  awssim.Run{Hold: true},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			_, err := b.RunProbe(ctx, probes[1])
			return err
		},
		want: func(t *testing.T, err error) {
			if !awsgate.IsTimeout(err) || !strings.Contains(err.Error(), "RUNNING") {
				t.Errorf("RunProbe error %v: want a timeout, last seen RUNNING", err)
			}
		},
	}, {
		name: "ctrl-c while a probe runs",
		run:  awssim.Run{Hold: true},
		do: func(ctx context.Context, b *awsgate.Backend) error {
			ctx, cancel := context.WithCancel(ctx)
			go func() {
				time.Sleep(20 * time.Second)
				cancel()
			}()
			_, err := b.RunProbe(ctx, probes[0])
			return err
		},
		want: func(t *testing.T, err error) {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("RunProbe error %v: want context.Canceled", err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: func(awssim.TaskDefinition) awssim.Run { return tt.run }}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Task = 3 * time.Minute })
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				err := tt.do(t.Context(), b)
				t.Logf("error: %v", err)
				tt.want(t, err)
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}
