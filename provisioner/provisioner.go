// Package provisioner is the cisecs Packer provisioner. It runs the host
// script (package hostscript) that makes a CIS-hardened Linux image an ECS
// host, and downloads the script's JSON report.
//
// Provisioning costs three round trips to the host: one upload of the
// rendered script, one command that runs and then removes it, and one
// download of the report. Everything that can be checked before the host
// exists is checked, and the script rendered, in Prepare.
package provisioner

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hcldec"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/retry"

	"github.com/cisecs/cisecs/templates"
)

// defaultRetryDelay is the pause between two attempts to upload and start
// the script.
const defaultRetryDelay = 2 * time.Second

// stderrTail is how many bytes of the script's standard error an ExitError
// keeps.
const stderrTail = 2048

// Provisioner is the cisecs provisioner. Its zero value is ready for
// Prepare.
type Provisioner struct {
	config Config
	p      prepared

	// retryDelay, when not zero, replaces defaultRetryDelay (tests).
	retryDelay time.Duration
}

var _ packersdk.Provisioner = (*Provisioner)(nil)

// ConfigSpec returns the HCL2 spec of Config.
func (p *Provisioner) ConfigSpec() hcldec.ObjectSpec {
	return p.config.FlatMapstructure().HCL2Spec()
}

// Prepare decodes and checks the configuration, reporting every bad setting
// at once, and renders the host script.
func (p *Provisioner) Prepare(raws ...any) error {
	var c Config
	if err := c.decode(raws...); err != nil {
		return fmt.Errorf("cisecs: decode configuration: %w", err)
	}
	prep, err := c.prepare()
	if err != nil {
		return fmt.Errorf("cisecs: %w", err)
	}
	p.config, p.p = c, prep
	return nil
}

// ExitError is returned when the host script ran and exited non-zero, or
// the connection was lost while it ran. The script is not run again.
type ExitError struct {
	// Script is where the script was uploaded on the host.
	Script string
	// Command is the remote command that ran the script.
	Command string
	// ExitStatus is the command's exit status, packersdk.CmdDisconnect if
	// the connection was lost.
	ExitStatus int
	// Stderr is the end of the script's standard error.
	Stderr string
}

func (e *ExitError) Error() string {
	msg := fmt.Sprintf("host script %q exited with status %d", e.Script, e.ExitStatus)
	if e.Disconnected() {
		msg = fmt.Sprintf("connection lost while host script %q ran", e.Script)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + lastLine(s)
	}
	if e.SudoLockedOut() {
		msg += "; " + sudoWayOut()
	}
	return msg
}

// Disconnected reports whether the connection to the host was lost while
// the script ran, so that its exit status is unknown.
func (e *ExitError) Disconnected() bool {
	return e.ExitStatus == packersdk.CmdDisconnect
}

// Provision uploads the script, runs it and downloads its report into
// report_file. The upload and start are retried for start_retry_timeout
// while the communicator fails; once the script has started it is never run
// again. When the script fails its report is still downloaded, and the
// returned error is an *ExitError.
func (p *Provisioner) Provision(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, _ map[string]any) error {
	if p.p.script == nil {
		return errors.New("cisecs: provision called before a successful prepare")
	}
	remote := path.Join(p.p.remoteDir, "cisecs-"+strings.ToLower(rand.Text()[:16])+".sh")
	command := runCommand(remote, p.p.sudo)

	ui.Sayf("cisecs: running steps %s on the host", strings.Join(p.p.steps, ", "))
	began := time.Now()
	cmd, err := p.start(ctx, ui, comm, remote, command)
	if err != nil {
		return fmt.Errorf("cisecs: %w", err)
	}
	status := cmd.ExitStatus()
	var runErr error
	if status != 0 {
		runErr = &ExitError{Script: remote, Command: command, ExitStatus: status, Stderr: cmd.tail.String()}
		ui.Errorf("cisecs: %v; downloading the report, which may say why", runErr)
	}

	if err := p.download(ctx, comm); err != nil {
		return fmt.Errorf("cisecs: %w", errors.Join(runErr, err))
	}
	ui.Sayf("cisecs: report saved to %s (upload, run and download took %.2fs)", p.p.reportFile, time.Since(began).Seconds())
	if runErr != nil {
		return fmt.Errorf("cisecs: %w", runErr)
	}
	return nil
}

// remoteCmd is a started command and the end of its standard error.
type remoteCmd struct {
	*packersdk.RemoteCmd
	tail *tailBuffer
}

// start uploads the script to remote and runs command, streaming its output
// to ui, until the command exits. It retries while the communicator fails
// to upload or start, never once the command has started.
func (p *Provisioner) start(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, remote, command string) (remoteCmd, error) {
	delay := p.retryDelay
	if delay == 0 {
		delay = defaultRetryDelay
	}
	var (
		cmd    remoteCmd
		failed bool
	)
	err := retry.Config{
		StartTimeout: p.p.startRetryTimeout,
		// retry.Config.Run sleeps without watching the context; wait here
		// instead, so that a cancel ends the wait at once.
		RetryDelay: func() time.Duration {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			return 0
		},
		ShouldRetry: func(err error) bool { return ctx.Err() == nil },
	}.Run(ctx, func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := p.attempt(ctx, ui, comm, remote, command, &cmd)
		if err != nil && ctx.Err() == nil {
			log.Printf("cisecs: upload and start of %q failed: %v", remote, err)
			if !failed {
				ui.Sayf("cisecs: host not ready (%v); retrying for up to %s", err, p.p.startRetryTimeout)
				failed = true
			}
		}
		return err
	})
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return remoteCmd{}, fmt.Errorf("run host script %q: %w", remote, ctxErr)
		}
		return remoteCmd{}, fmt.Errorf("upload and start host script %q (retried for %s): %w", remote, p.p.startRetryTimeout, err)
	}
	return cmd, nil
}

// attempt uploads the script and runs command once, setting *cmd when the
// command has started and exited. An error means the command never
// started, or ctx was cancelled.
func (p *Provisioner) attempt(ctx context.Context, ui packersdk.Ui, comm packersdk.Communicator, remote, command string, cmd *remoteCmd) error {
	err := withContext(ctx, func() error {
		return comm.Upload(remote, bytes.NewReader(p.p.script), nil)
	})
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	tail := &tailBuffer{max: stderrTail}
	rc := &packersdk.RemoteCmd{Command: command, Stderr: tail}
	if err := rc.RunWithUi(ctx, comm, ui); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	*cmd = remoteCmd{RemoteCmd: rc, tail: tail}
	return nil
}

// download fetches the report into report_file, creating its directory.
func (p *Provisioner) download(ctx context.Context, comm packersdk.Communicator) error {
	var report bytes.Buffer
	err := withContext(ctx, func() error { return comm.Download(p.p.reportPath, &report) })
	if err != nil {
		return fmt.Errorf("download report %q: %w", p.p.reportPath, err)
	}
	if dir := filepath.Dir(p.p.reportFile); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report_file %q: %w", p.p.reportFile, err)
		}
	}
	if err := os.WriteFile(p.p.reportFile, report.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report_file %q: %w", p.p.reportFile, err)
	}
	return nil
}

// runCommand returns the command that runs the script at remote and then
// removes it, keeping the script's exit status, in one round trip.
func runCommand(remote string, sudo bool) string {
	run := "bash " + templates.ShellQuote(remote)
	if sudo {
		run = "sudo -n " + run
	}
	return fmt.Sprintf("%s; rc=$?; rm -f %s; exit $rc", run, templates.ShellQuote(remote))
}

// withContext runs f, returning early with ctx's error if ctx is done
// first. f keeps running in the background then; it must not touch memory
// the caller reads afterwards.
func withContext(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lastLine returns the last line of s.
func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
