package validate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cisecs/cisecs/release"
)

// Run runs the gate on b and returns its report; Report.ExitCode is the
// verdict. The checks run in order and the gate fails closed: the first
// check that does not pass ends the run, and the checks after it are
// reported as skipped.
//
//  1. launch: b.Launch.
//  2. awsvpc-credentials: an awsvpc probe must exit 0 (credentials for
//     the role with a future expiry, task metadata v4, IMDS blocked when
//     o.IMDSBlocked).
//  3. bridge-credentials, when o.NetworkModes has bridge: a bridge probe
//     must exit 0 (IMDS blocked when o.BridgeIMDSBlocked).
//     host-credentials, when o.NetworkModes has host: a host-mode probe
//     must exit 0 (IMDS is never checked: the task is the host).
//  4. forced-stop: a held awsvpc probe is started and stopped by force,
//     then a new awsvpc probe must pass on the same host (the seed's
//     "docker froze" symptom).
//  5. reboot: b.Reboot, then a probe of every mode must pass again (the
//     fix persisted).
//
// After a check that did not pass, b.Diagnostics goes into the report.
// b.Cleanup always runs, whatever happened (also after a timeout or when
// ctx is cancelled), with a context of its own; it is tried a second time
// if it fails. The image is published only when every check passed and
// cleanup succeeded.
func Run(ctx context.Context, b Backend, o Options) Report {
	o = o.WithDefaults()
	g := &gate{b: b, o: o, start: o.Clock.Now(), out: &progress{w: o.Progress}}
	g.report = Report{
		RunID:             o.RunID,
		Image:             o.ImageID,
		NetworkModes:      o.NetworkModes,
		IMDSBlocked:       o.IMDSBlocked,
		BridgeIMDSBlocked: o.BridgeIMDSBlocked,
		RoleARN:           o.RoleARN,
		ProbeImage:        o.ProbeImage,
		Start:             g.start,
		PublishParameter:  o.Publish,
	}
	if b == nil {
		g.report.Error = "bad options: no backend"
		g.report.Cleanup = Cleanup{Status: CleanupDone}
		return g.finish()
	}
	g.report.Backend = b.Name()
	err := o.validate()
	if o.Publish != "" && o.Publisher == nil {
		err = errors.Join(err, fmt.Errorf("publish %q: no publisher", o.Publish))
	}
	if err != nil {
		g.report.Error = "bad options: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		g.say("options", "%s", g.report.Error)
	} else {
		g.say("gate", "run %s: image %s on %s, modes %s", o.RunID, o.ImageID, b.Name(), strings.Join(o.NetworkModes, ","))
		runCtx, cancel := withClockTimeout(ctx, o.Clock, o.Timeout, fmt.Errorf("gate timed out after %s", o.Timeout))
		g.runChecks(runCtx)
		if err := context.Cause(runCtx); err != nil && !g.report.Passed() && g.report.Error == "" {
			g.report.Error = interruption(runCtx)
		}
		cancel()
		if !g.report.Passed() {
			g.diagnose(ctx)
		}
	}
	g.cleanup(ctx)
	if g.report.Passed() && o.Publish != "" {
		g.publish(ctx)
	}
	return g.finish()
}

// gate is one run in progress.
type gate struct {
	b      Backend
	o      Options
	start  time.Time
	out    *progress
	report Report
}

// check is one of the gate's checks: its name and what it does.
type check struct {
	name string
	run  func(ctx context.Context, c *Check) error
}

// verdict ends a check with a status other than StatusError.
type verdict struct {
	status  Status
	message string
}

func (v *verdict) Error() string { return v.message }

// failed returns the verdict that the image failed the check.
func failed(format string, a ...any) error {
	return &verdict{status: StatusFail, message: fmt.Sprintf(format, a...)}
}

// checks returns the gate's checks in the order they run.
func (g *gate) checks() []check {
	cs := []check{
		{CheckLaunch, func(ctx context.Context, c *Check) error {
			err := g.wait(ctx, CheckLaunch, "the "+g.b.Name()+" backend to launch a host from "+g.o.ImageID+" and for it to run tasks", func(ctx context.Context) error {
				return g.b.Launch(ctx, g.o.Probes())
			})
			c.Message = "host launched from " + g.o.ImageID + " and ready for tasks"
			return err
		}},
		{CheckAWSVPC, func(ctx context.Context, c *Check) error {
			return g.probe(ctx, c, release.ModeAWSVPC)
		}},
	}
	if slices.Contains(g.o.NetworkModes, release.ModeBridge) {
		cs = append(cs, check{CheckBridge, func(ctx context.Context, c *Check) error {
			return g.probe(ctx, c, release.ModeBridge)
		}})
	}
	if slices.Contains(g.o.NetworkModes, release.ModeHost) {
		cs = append(cs, check{CheckHost, func(ctx context.Context, c *Check) error {
			return g.probe(ctx, c, release.ModeHost)
		}})
	}
	cs = append(cs, check{CheckForcedStop, g.forcedStop})
	if _, ok := g.b.(HostRunner); ok {
		cs = append(cs, check{CheckHostHealth, g.hostHealth})
	}
	cs = append(cs, check{CheckReboot, g.reboot})
	return cs
}

// runChecks runs the checks in order until one does not pass, and records
// every check in the report.
func (g *gate) runChecks(ctx context.Context) {
	var stopped string
	for _, ch := range g.checks() {
		c := Check{Name: ch.name}
		if stopped != "" {
			c.Status, c.Message = StatusSkipped, "not run: "+stopped
			g.report.Checks = append(g.report.Checks, c)
			continue
		}
		begin := g.o.Clock.Now()
		err := g.safely(func() error {
			if err := context.Cause(ctx); err != nil {
				return err
			}
			return ch.run(ctx, &c)
		})
		c.Duration = Seconds(g.o.Clock.Now().Sub(begin))
		var v *verdict
		switch {
		case err == nil:
			c.Status = StatusPass
		case errors.As(err, &v):
			c.Status, c.Message = v.status, v.message
		default:
			c.Status, c.Message = StatusError, err.Error()
			if ctx.Err() != nil {
				c.Message = interruption(ctx) + ": " + c.Message
			}
		}
		g.say(ch.name, "%s (%s): %s", c.Status, time.Duration(c.Duration).Round(time.Millisecond), c.Message)
		if c.Status != StatusPass {
			stopped = fmt.Sprintf("%s did not pass (%s)", ch.name, c.Status)
		}
		g.report.Checks = append(g.report.Checks, c)
	}
}

// safely runs f and turns a panic into an error: the gate must reach
// cleanup whatever a backend does.
func (g *gate) safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return f()
}

// probe runs a probe of mode to completion; it must exit 0.
func (g *gate) probe(ctx context.Context, c *Check, mode string) error {
	p := g.o.probe(mode, false)
	var out Outcome
	err := g.wait(ctx, c.Name, "the "+mode+" probe task to finish", func(ctx context.Context) error {
		var err error
		out, err = g.b.RunProbe(ctx, p)
		return err
	})
	if out.TaskID != "" {
		c.Tasks = append(c.Tasks, out.TaskID)
	}
	if err != nil {
		return fmt.Errorf("%s probe: %w", mode, err)
	}
	code := out.ExitCode
	c.ProbeExitCode = &code
	msg := fmt.Sprintf("%s probe %s exited %d (%s)", mode, out.TaskID, code, ProbeExitMeaning(code))
	if out.Reason != "" {
		msg += ": " + out.Reason
	}
	switch {
	case code < 0:
		// No exit code: the probe never ran (an image that cannot be
		// pulled, a task that could not start); it says nothing of the
		// host under test.
		return errors.New(msg)
	case code != ProbeExitPass:
		return failed("%s", msg)
	}
	c.Message = msg
	return nil
}

// forcedStop starts a held awsvpc probe, stops it by force, and proves
// that a new awsvpc probe still passes on the host.
func (g *gate) forcedStop(ctx context.Context, c *Check) error {
	p := g.o.probe(release.ModeAWSVPC, true)
	var id string
	err := g.wait(ctx, c.Name, "a held awsvpc probe task to run", func(ctx context.Context) error {
		var err error
		id, err = g.b.StartTask(ctx, p)
		return err
	})
	if err != nil {
		return fmt.Errorf("start held awsvpc probe: %w", err)
	}
	c.Tasks = append(c.Tasks, id)
	err = g.wait(ctx, c.Name, "task "+id+" to stop by force", func(ctx context.Context) error {
		return g.b.ForceStop(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("force-stop task %q: %w", id, err)
	}
	if err := g.probe(ctx, c, release.ModeAWSVPC); err != nil {
		var v *verdict
		if errors.As(err, &v) {
			v.message = "after task " + id + " was stopped by force: " + v.message
		}
		return err
	}
	c.Message = "task " + id + " stopped by force; then " + c.Message
	return nil
}

// reboot reboots the host and proves that probes of every mode pass again.
func (g *gate) reboot(ctx context.Context, c *Check) error {
	err := g.wait(ctx, c.Name, "the host to reboot and run tasks again", func(ctx context.Context) error {
		return g.b.Reboot(ctx)
	})
	if err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	var msgs []string
	for _, mode := range g.o.NetworkModes {
		if err := g.probe(ctx, c, mode); err != nil {
			var v *verdict
			if errors.As(err, &v) {
				v.message = "after reboot: " + v.message
			}
			return err
		}
		msgs = append(msgs, c.Message)
	}
	c.Message = "after reboot: " + strings.Join(msgs, "; ")
	return nil
}

// wait runs f, saying what the gate waits for when it starts and, every
// HeartbeatInterval, that it still waits.
func (g *gate) wait(ctx context.Context, phase, what string, f func(context.Context) error) error {
	g.say(phase, "waiting for %s", what)
	begin := g.o.Clock.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-g.o.Clock.After(HeartbeatInterval):
				g.say(phase, "still waiting for %s (%s)", what, g.o.Clock.Now().Sub(begin).Round(time.Second))
			}
		}
	})
	defer wg.Wait()
	defer close(done)
	return f(ctx)
}

// diagnose collects the backend's diagnostics, with a context of its own.
func (g *gate) diagnose(parent context.Context) {
	ctx, cancel := withClockTimeout(context.WithoutCancel(parent), g.o.Clock, DefaultDiagnosticsTimeout,
		fmt.Errorf("diagnostics timed out after %s", DefaultDiagnosticsTimeout))
	defer cancel()
	var d map[string]string
	err := g.safely(func() error {
		return g.wait(ctx, "diagnostics", "the backend to collect diagnostics", func(ctx context.Context) error {
			var err error
			d, err = g.b.Diagnostics(ctx)
			return err
		})
	})
	d = g.hostSignals(ctx, d)
	g.report.Diagnostics = d
	if err != nil {
		g.report.DiagnosticsError = err.Error()
		g.say("diagnostics", "failed: %v", err)
		return
	}
	g.say("diagnostics", "collected %d item(s)", len(d))
}

// cleanup calls Cleanup, with a context of its own that neither a timeout
// nor an interruption of the run has cancelled, and once more if it fails.
func (g *gate) cleanup(parent context.Context) {
	begin := g.o.Clock.Now()
	var err error
	for attempt := 1; attempt <= 2; attempt++ {
		g.report.Cleanup.Attempts = attempt
		ctx, cancel := withClockTimeout(context.WithoutCancel(parent), g.o.Clock, g.o.CleanupTimeout,
			fmt.Errorf("cleanup timed out after %s", g.o.CleanupTimeout))
		err = g.safely(func() error {
			return g.wait(ctx, "cleanup", "the backend to remove everything the run created", func(ctx context.Context) error {
				return g.b.Cleanup(ctx)
			})
		})
		if err != nil && ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
		}
		cancel()
		if err == nil {
			break
		}
		g.say("cleanup", "attempt %d failed: %v", attempt, err)
	}
	g.report.Cleanup.Duration = Seconds(g.o.Clock.Now().Sub(begin))
	if err != nil {
		g.report.Cleanup.Status, g.report.Cleanup.Error = CleanupFailed, err.Error()
		g.say("cleanup", "FAILED: %v: resources of run %s may be left behind", err, g.o.RunID)
		return
	}
	g.report.Cleanup.Status = CleanupDone
	g.say("cleanup", "done")
}

// publish publishes the image id, once every check passed and cleanup
// succeeded.
func (g *gate) publish(ctx context.Context) {
	if g.report.Cleanup.Status != CleanupDone {
		g.report.PublishError = "not published: cleanup failed"
		g.say("publish", "%s", g.report.PublishError)
		return
	}
	err := g.safely(func() error {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		return g.wait(ctx, "publish", "the publisher to record "+g.o.ImageID+" in "+g.o.Publish, func(ctx context.Context) error {
			return g.o.Publisher.Publish(ctx, g.o.Publish, g.o.ImageID)
		})
	})
	if err != nil {
		g.report.PublishError = fmt.Sprintf("publish %q to %q: %v", g.o.ImageID, g.o.Publish, err)
		g.say("publish", "FAILED: %s", g.report.PublishError)
		return
	}
	g.report.Published = true
	g.say("publish", "published %s to %s", g.o.ImageID, g.o.Publish)
}

// finish completes the report.
func (g *gate) finish() Report {
	g.report.Duration = Seconds(g.o.Clock.Now().Sub(g.start))
	g.say("gate", "%s", g.report.Summary())
	return g.report
}

// say writes one progress line.
func (g *gate) say(phase, format string, a ...any) {
	g.out.printf(g.o.Clock.Now().Sub(g.start), phase, format, a...)
}

// interruption says why ctx ended: the gate's timeout or an interruption.
func interruption(ctx context.Context) string {
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		return "interrupted"
	}
	return cause.Error()
}

// progress serialises progress lines from the gate and its heartbeats.
type progress struct {
	mu sync.Mutex
	w  io.Writer
}

// printf writes "[elapsed] phase: message".
func (p *progress) printf(elapsed time.Duration, phase, format string, a ...any) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%7.1fs] %s: %s\n", elapsed.Seconds(), phase, fmt.Sprintf(format, a...))
}
