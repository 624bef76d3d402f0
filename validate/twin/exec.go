package twin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// ExecError is a command that ran in the twin and failed.
type ExecError struct {
	// Args is the command line, as given.
	Args []string
	// Stderr is what the command wrote to its standard error.
	Stderr string
	// ExitCode is the command's exit status, or -1 if it did not exit
	// (killed, or never started).
	ExitCode int
	// Err is the underlying error from os/exec or the context.
	Err error
}

// Error implements error.
func (e *ExecError) Error() string {
	msg := fmt.Sprintf("%s: exit status %d", strings.Join(e.Args, " "), e.ExitCode)
	if e.ExitCode < 0 && e.Err != nil {
		msg = fmt.Sprintf("%s: %v", strings.Join(e.Args, " "), e.Err)
	}
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ": " + s
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *ExecError) Unwrap() error { return e.Err }

// newExecError describes a failed command; err is what os/exec returned.
func newExecError(args []string, stderr string, err error) *ExecError {
	code := -1
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return &ExecError{Args: args, Stderr: stderr, ExitCode: code, Err: err}
}

// place says which namespaces a command joins.
type place int

const (
	// inHost joins the host's mount and network namespaces: the command
	// sees the twin's disk and the twin's binaries.
	inHost place = iota
	// inHostNet joins only the host's network namespace: the command is
	// the machine's own binary, reading the machine's files.
	inHostNet
)

// Exec runs argv as root in the host (its mount and network namespaces)
// with stdin (nil means empty) and a clean environment, and returns its
// standard output. A command that fails returns *ExecError. Exec refuses
// to run, with an error wrapping ErrNotRunning, unless the twin is booted
// and its namespaces are there.
func (t *Twin) Exec(ctx context.Context, stdin io.Reader, argv ...string) ([]byte, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.run(ctx, inHost, stdin, argv)
}

// Start starts argv as a long-running process in the host, in a process
// group of its own, with the host's clean environment and no output. The
// returned Cmd runs nsenter, which becomes argv (same PID). ctx bounds the
// process as with exec.CommandContext; the twin also kills it (and its
// group) on Reboot and Close. The caller should Wait for it, to reap it.
func (t *Twin) Start(ctx context.Context, argv ...string) (*exec.Cmd, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(argv) == 0 {
		return nil, errors.New("start in twin: no command")
	}
	if err := t.guard(); err != nil {
		return nil, fmt.Errorf("start %q in twin: %w", argv[0], err)
	}
	cmd := exec.CommandContext(ctx, t.tools.nsenter, t.nsenterArgs(inHost, argv)...)
	if err := t.startCmd(cmd, argv[0]); err != nil {
		return nil, err
	}
	return cmd, nil
}

// startCmd starts cmd (nsenter into the host) in a process group of its
// own, with the host's clean environment, and records it for teardown.
// The caller holds t.mu.
func (t *Twin) startCmd(cmd *exec.Cmd, name string) error {
	cmd.Env = hostEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %q in twin: %w", name, err)
	}
	t.started = append(t.started, cmd)
	return nil
}

// run runs argv in the host; the caller holds t.mu.
func (t *Twin) run(ctx context.Context, where place, stdin io.Reader, argv []string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("exec in twin: no command")
	}
	if err := t.guard(); err != nil {
		return nil, fmt.Errorf("exec %q in twin: %w", argv[0], err)
	}
	cmd := exec.CommandContext(ctx, t.tools.nsenter, t.nsenterArgs(where, argv)...)
	cmd.Env = hostEnv()
	cmd.Stdin = stdin
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), newExecError(argv, stderr.String(), err)
	}
	return stdout.Bytes(), nil
}

// nsenterArgs returns nsenter's arguments to run argv at where.
func (t *Twin) nsenterArgs(where place, argv []string) []string {
	args := []string{"--net=" + t.NetNS(Host)}
	if where == inHost {
		args = append([]string{"--target", strconv.Itoa(t.holder.Process.Pid), "--mount"}, args...)
	}
	return append(append(args, "--"), argv...)
}

// guard refuses to let anything run unless the twin is booted, its host
// network namespace is the one it created (never the machine's own), and
// the holder still holds the host's mount namespace (never the
// machine's own). The caller holds t.mu.
func (t *Twin) guard() error {
	switch {
	case t.closed:
		return fmt.Errorf("twin %s is closed: %w", t.name, ErrNotRunning)
	case !t.up || t.holder == nil:
		return fmt.Errorf("twin %s is down: %w", t.name, ErrNotRunning)
	}
	for e, want := range t.nets {
		got, err := statNS(t.NetNS(e))
		if err != nil || got != want || got == t.rootNet {
			return fmt.Errorf("twin %s: network namespace %q is missing: %w", t.name, t.NetNS(e), ErrNotRunning)
		}
	}
	select {
	case <-t.held:
		return fmt.Errorf("twin %s: mount namespace holder has exited: %w", t.name, ErrNotRunning)
	default:
	}
	got, err := statNS("/proc/" + strconv.Itoa(t.holder.Process.Pid) + "/ns/mnt")
	if err != nil || got != t.holderID || got == t.rootMnt {
		return fmt.Errorf("twin %s: mount namespace of holder %d is gone: %w", t.name, t.holder.Process.Pid, ErrNotRunning)
	}
	return nil
}
