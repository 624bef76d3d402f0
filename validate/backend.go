// Package validate is the release gate: it launches a host from a baked
// image, runs probe tasks in the network modes the image enables, and proves
// that they reach their credentials, survive a forced task stop and a
// reboot. It fails closed, removes everything it created, and lets an image
// be published only when every check passed.
//
// The gate drives a Backend: AWS (a real instance in a temporary ECS
// cluster) or the host twin (network namespaces, offline).
package validate

import (
	"context"
	"time"
)

// Probe is one probe task to run on the gate's host.
type Probe struct {
	// Mode is the task's network mode: release.ModeAWSVPC, release.ModeBridge or release.ModeHost.
	Mode string
	// RoleARN is the task role the credentials must be for.
	RoleARN string
	// IMDSBlocked says the instance metadata service must be unreachable
	// from the task (the image sets ECS_AWSVPC_BLOCK_IMDS).
	IMDSBlocked bool
	// Hold keeps the task running after its checks (it sleeps) so that it
	// can be stopped by force; StartTask returns without waiting.
	Hold bool
}

// Outcome is how a probe task ended, as the backend read it (on AWS, from
// ECS: the container's exit code and reason; no log service needed).
type Outcome struct {
	// TaskID identifies the task in the backend.
	TaskID string
	// ExitCode is the probe container's exit code (see the probe script
	// for what each code means); -1 when it has none.
	ExitCode int
	// Reason is the backend's account of why the task stopped.
	Reason string
}

// Backend is a place to launch a host from the image and run tasks on it.
// Every method honours ctx; Cleanup must be safe to call more than once and
// after a partial Launch.
type Backend interface {
	// Name says which backend this is, for reports ("aws", "twin").
	Name() string
	// Launch brings up one host from the image and waits until it can run
	// probes, the distinct probes the gate will ask for (Options.Probes):
	// on AWS, the cluster, one task definition each, the instance
	// registered; on the twin, the host script opening their modes.
	Launch(ctx context.Context, probes []Probe) error
	// RunProbe runs p to completion and returns how it ended.
	RunProbe(ctx context.Context, p Probe) (Outcome, error)
	// StartTask starts p (with Hold set) and returns once it is running.
	StartTask(ctx context.Context, p Probe) (taskID string, err error)
	// ForceStop stops a running task by force (ECS StopTask).
	ForceStop(ctx context.Context, taskID string) error
	// Reboot reboots the host and waits until it can run tasks again.
	Reboot(ctx context.Context) error
	// Diagnostics collects what explains a failure: the live ruleset,
	// ecs-init and agent log tails (on AWS, through SSM Run Command).
	Diagnostics(ctx context.Context) (map[string]string, error)
	// Cleanup removes everything the run created.
	Cleanup(ctx context.Context) error
}

// Publisher records a released image id, once every check passed (on AWS:
// an SSM parameter of data type aws:ec2:image).
type Publisher interface {
	Publish(ctx context.Context, parameter, imageID string) error
}

// Clock is the gate's time source; tests drive a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}
