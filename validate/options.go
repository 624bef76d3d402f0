package validate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds the launch and the checks of one run.
	DefaultTimeout = 45 * time.Minute
	// DefaultCleanupTimeout bounds each cleanup attempt.
	DefaultCleanupTimeout = 15 * time.Minute
	// DefaultDiagnosticsTimeout bounds the collection of diagnostics.
	DefaultDiagnosticsTimeout = 3 * time.Minute
	// HeartbeatInterval is how often the gate says what it still waits for.
	HeartbeatInterval = 30 * time.Second
)

// Options configure one run of the gate. The zero value of every field but
// ImageID is valid.
type Options struct {
	// ImageID names the image under test (an AMI id on AWS; for the
	// twin, the baseline it models). It is what gets published.
	ImageID string
	// NetworkModes are the ECS network modes the image enables; empty
	// means both. awsvpc must be among them: the forced-stop and reboot
	// checks use it.
	NetworkModes []string
	// IMDSBlocked says the image sets ECS_AWSVPC_BLOCK_IMDS: the awsvpc
	// probe must not reach the instance metadata service.
	IMDSBlocked bool
	// RoleARN is the task role the probe's credentials must be for. Empty
	// lets the backend use the role it gave the probe task (the twin
	// does); a backend that cannot tell fails the probe.
	RoleARN string
	// ProbeImage is the probe container's image, recorded in the report;
	// empty means DefaultProbeImage. Backends that run containers are
	// configured with the same value (the twin runs the probe with the
	// machine's sh and curl).
	ProbeImage string
	// Timeout bounds the launch and the checks; zero means
	// DefaultTimeout. Diagnostics and cleanup have timeouts of their own.
	Timeout time.Duration
	// CleanupTimeout bounds each cleanup attempt; zero means
	// DefaultCleanupTimeout.
	CleanupTimeout time.Duration
	// Clock is the time source; nil means the real clock.
	Clock Clock
	// RunID identifies the run in reports (and, through the backend's own
	// options, in the names and tags of what it creates); empty means
	// NewRunID.
	RunID string
	// Progress receives one line per phase: elapsed time, phase, what
	// the gate waits for. Nil discards them.
	Progress io.Writer
	// Publish is the parameter the image id is published to when every
	// check passed and cleanup succeeded; empty means no publishing.
	Publish string
	// Publisher publishes; it is required when Publish is set.
	Publisher Publisher
}

// withDefaults returns o with every empty setting defaulted.
func (o Options) withDefaults() Options {
	if len(o.NetworkModes) == 0 {
		o.NetworkModes = []string{ModeAWSVPC, ModeBridge}
	}
	if o.ProbeImage == "" {
		o.ProbeImage = DefaultProbeImage
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CleanupTimeout == 0 {
		o.CleanupTimeout = DefaultCleanupTimeout
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.RunID == "" {
		o.RunID = NewRunID(o.Clock.Now())
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate reports every bad setting of o, defaults applied, at once, each
// naming the setting. Run checks them too, and does not launch with bad
// options.
func (o Options) Validate() error {
	return o.withDefaults().validate()
}

// validate reports every bad setting at once, each naming the setting.
func (o Options) validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if strings.TrimSpace(o.ImageID) == "" {
		bad("image id: empty")
	}
	for _, m := range o.NetworkModes {
		if m != ModeAWSVPC && m != ModeBridge {
			bad("network modes: unknown mode %q (modes are %s, %s)", m, ModeAWSVPC, ModeBridge)
		}
	}
	if !slices.Contains(o.NetworkModes, ModeAWSVPC) {
		bad("network modes %q: the gate needs %s (the forced-stop and reboot checks use it)", strings.Join(o.NetworkModes, ","), ModeAWSVPC)
	}
	if o.RoleARN != "" && !roleARNRE.MatchString(o.RoleARN) {
		bad("role arn %q: not an IAM role ARN", o.RoleARN)
	}
	if strings.ContainsAny(o.ProbeImage, " \t\n'\"") {
		bad("probe image %q: not an image reference", o.ProbeImage)
	}
	if o.Timeout < 0 {
		bad("timeout %s: negative", o.Timeout)
	}
	if o.CleanupTimeout < 0 {
		bad("cleanup timeout %s: negative", o.CleanupTimeout)
	}
	if !runIDRE.MatchString(o.RunID) {
		bad("run id %q: want 1 to 64 letters, digits and hyphens", o.RunID)
	}
	if o.Publish != "" && o.Publisher == nil {
		bad("publish %q: no publisher", o.Publish)
	}
	return errors.Join(errs...)
}

// Probes returns the distinct probes Run will ask the backend for with
// these options, in the order it first asks for them, so that a backend
// can prepare them while the host launches (on AWS, one task definition
// each).
func (o Options) Probes() []Probe {
	o = o.withDefaults()
	var ps []Probe
	for _, m := range o.NetworkModes {
		ps = append(ps, o.probe(m, false))
	}
	return append(ps, o.probe(ModeAWSVPC, true))
}

// probe is the probe of mode the gate runs: IMDS must be blocked only in
// awsvpc mode (ECS_AWSVPC_BLOCK_IMDS acts there alone).
func (o Options) probe(mode string, hold bool) Probe {
	return Probe{Mode: mode, RoleARN: o.RoleARN, IMDSBlocked: mode == ModeAWSVPC && o.IMDSBlocked, Hold: hold}
}

// runIDRE is what a run id may be: safe in ECS cluster names, tags and
// file names.
var runIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// NewRunID returns a fresh run id made of the time and a random suffix,
// such as "gate-20250102-150405-3fa9c1".
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "gate-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}
