package validate

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cisecs/cisecs/release"
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

// Options configure one run of the gate: the one home of every setting the
// gate and its backends share (a backend's own options hold only what is
// its alone; awsgate.Options holds these as its Gate). The zero value of
// every field but ImageID is valid.
type Options struct {
	// ImageID names the image under test (an AMI id on AWS; for the
	// twin, the baseline it models). It is what gets published.
	ImageID string
	// NetworkModes are the ECS network modes the image enables (Modes);
	// empty means all of them. awsvpc must be among them: the forced-stop
	// and reboot checks use it.
	NetworkModes []string
	// IMDSBlocked says the image sets ECS_AWSVPC_BLOCK_IMDS: the awsvpc
	// probe must not reach the instance metadata service.
	IMDSBlocked bool
	// BridgeIMDSBlocked says the image keeps bridge tasks from the
	// instance metadata service too (Docker's DOCKER-USER drop for
	// 169.254.169.254, or an IMDS hop limit of 1): the bridge probe must
	// not reach it either.
	BridgeIMDSBlocked bool
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
	// Publisher publishes; Run requires it when Publish is set (it is
	// wiring, not a setting: Validate does not ask for it).
	Publisher Publisher
}

// WithDefaults returns o with every empty setting defaulted: a fresh RunID
// among them, so a caller that hands o to a backend as well as to Run
// defaults it once, first, and both use one run id.
func (o Options) WithDefaults() Options {
	if len(o.NetworkModes) == 0 {
		o.NetworkModes = release.NetworkModes()
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
		o.Clock = RealClock{}
	}
	if o.RunID == "" {
		o.RunID = NewRunID(o.Clock.Now())
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// Validate reports every bad setting of o, defaults applied, at once: the
// error joins one *SettingError per bad setting. Run checks them too, and
// does not launch with bad options. A backend with needs of its own checks
// them beside these, in one call (awsgate.Options.Check).
func (o Options) Validate() error {
	return o.WithDefaults().validate()
}

// SettingError is one bad setting of the gate's options, or of a
// backend's: which setting, its value, what is wrong with it and what a
// good value looks like. A caller maps Setting to its own name for the
// input (a command, to its flag) and says Value and Problem.
type SettingError struct {
	// Setting is the options field, such as "RoleARN".
	Setting string
	// Label names the setting in Error, such as "role arn".
	Label string
	// Value is the value as given: quoted when it is text, as Go prints
	// it otherwise (a duration). Empty when there is none to show (a
	// required setting left empty).
	Value string
	// Problem says what is wrong and, where it helps, what a good value
	// looks like.
	Problem string
}

// Error is "label value: problem", or "label: problem" without a value.
func (e *SettingError) Error() string {
	if e.Value == "" {
		return e.Label + ": " + e.Problem
	}
	return e.Label + " " + e.Value + ": " + e.Problem
}

// SettingErrors are the *SettingErrors err holds, in order (err itself,
// what it wraps, what it joins), and rest joins the other errors it holds:
// a caller that says the settings in its own words still says those.
func SettingErrors(err error) (settings []*SettingError, rest error) {
	var others []error
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case *SettingError:
			settings = append(settings, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		default:
			others = append(others, err)
		}
	}
	walk(err)
	return settings, errors.Join(others...)
}

// validate reports every bad setting at once, each naming the setting.
func (o Options) validate() error {
	var errs []error
	bad := func(setting, label, value, problem string) {
		errs = append(errs, &SettingError{Setting: setting, Label: label, Value: value, Problem: problem})
	}
	if strings.TrimSpace(o.ImageID) == "" {
		bad("ImageID", "image id", "", "empty")
	}
	for _, m := range o.NetworkModes {
		if !slices.Contains(release.NetworkModes(), m) {
			bad("NetworkModes", "network modes", "", fmt.Sprintf("unknown mode %q (modes are %s)", m, strings.Join(release.NetworkModes(), ", ")))
		}
	}
	if !slices.Contains(o.NetworkModes, release.ModeAWSVPC) {
		bad("NetworkModes", "network modes", fmt.Sprintf("%q", strings.Join(o.NetworkModes, ",")),
			"the gate needs "+release.ModeAWSVPC+" (the forced-stop and reboot checks use it); want "+release.ModeAWSVPC+" or a list with it, such as "+strings.Join(release.NetworkModes(), ","))
	}
	if o.RoleARN != "" && !release.IsRoleARN(o.RoleARN) {
		bad("RoleARN", "role arn", fmt.Sprintf("%q", o.RoleARN), "not an IAM role ARN; want one like arn:aws:iam::123456789012:role/NAME")
	}
	if strings.ContainsAny(o.ProbeImage, " \t\n'\"") {
		bad("ProbeImage", "probe image", fmt.Sprintf("%q", o.ProbeImage), "not an image reference; want one like "+DefaultProbeImage)
	}
	if o.Timeout < 0 {
		bad("Timeout", "timeout", o.Timeout.String(), "negative; want a duration like "+DefaultTimeout.String())
	}
	if o.CleanupTimeout < 0 {
		bad("CleanupTimeout", "cleanup timeout", o.CleanupTimeout.String(), "negative; want a duration like "+DefaultCleanupTimeout.String())
	}
	if !release.IsRunID(o.RunID) {
		bad("RunID", "run id", fmt.Sprintf("%q", o.RunID), "want 1 to 64 letters, digits and hyphens")
	}
	return errors.Join(errs...)
}

// Probes returns the distinct probes Run will ask the backend for with
// these options, in the order it first asks for them, so that a backend
// can prepare them while the host launches (on AWS, one task definition
// each).
func (o Options) Probes() []Probe {
	o = o.WithDefaults()
	var ps []Probe
	for _, m := range o.NetworkModes {
		ps = append(ps, o.probe(m, false))
	}
	return append(ps, o.probe(release.ModeAWSVPC, true))
}

// probe is the probe of mode the gate runs: IMDS must be blocked in
// awsvpc mode with IMDSBlocked (ECS_AWSVPC_BLOCK_IMDS acts there alone),
// and in bridge mode with BridgeIMDSBlocked. Never in host mode: a
// host-mode task is the host, and reaches IMDS as the host does.
func (o Options) probe(mode string, hold bool) Probe {
	blocked := (mode == release.ModeAWSVPC && o.IMDSBlocked) || (mode == release.ModeBridge && o.BridgeIMDSBlocked)
	return Probe{Mode: mode, RoleARN: o.RoleARN, IMDSBlocked: blocked, Hold: hold}
}

// NewRunID returns a fresh run id made of the time and a random suffix,
// such as "gate-20250102-150405-3fa9c1".
func NewRunID(now time.Time) string {
	b := make([]byte, 3)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return "gate-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}
