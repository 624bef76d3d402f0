package awsgate

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// BootIDCommand prints the kernel's boot id, a random UUID drawn at every
// boot: Reboot reads it through SSM before and after the reboot.
const BootIDCommand = "cat /proc/sys/kernel/random/boot_id"

var bootIDPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// Reboot reboots the instance and waits until it can run tasks again. The
// proof that it rebooted is the kernel's boot id, read through SSM before
// the reboot and again until it differs (SSM cannot reach the host while
// it is down); then ECS must report the instance ACTIVE with its agent
// connected, which it can only be, after the new boot, by a new
// connection. ECS's agentConnected is not the proof: ECS may report a
// short reboot's disconnect minutes late or never, and reports one for a
// mere reconnect too. If the boot id never changes, Reboot times out (it
// fails closed).
func (b *Backend) Reboot(ctx context.Context) error {
	b.mu.Lock()
	id, registered := b.instance, b.container != ""
	b.mu.Unlock()
	if !registered {
		return fmt.Errorf("reboot: %w", ErrNotLaunched)
	}
	deadline := b.poll.clock.Now().Add(b.timeouts.Reboot)
	// SSM may not reach the instance yet (its agent comes online on its
	// own time): ask again until it does.
	var before string
	err := b.poll.wait(ctx, fmt.Sprintf("instance %q: boot id before the reboot", id), b.timeouts.Reboot, func(ctx context.Context) (bool, string, error) {
		var err error
		before, err = b.bootID(ctx, id)
		if err != nil && ctx.Err() == nil {
			return false, "boot id unreadable: " + err.Error(), nil
		}
		return err == nil, "", err
	})
	if err != nil {
		return err
	}
	if _, err := b.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		return fmt.Errorf("reboot instance %q: %w", id, err)
	}
	left := deadline.Sub(b.poll.clock.Now())
	if left <= 0 {
		return &TimeoutError{Wait: fmt.Sprintf("instance %q rebooted", id), After: b.timeouts.Reboot}
	}
	err = b.poll.wait(ctx, fmt.Sprintf("instance %q rebooted: a boot id other than %s", id, before), left, func(ctx context.Context) (bool, string, error) {
		now, err := b.bootID(ctx, id)
		switch {
		case ctx.Err() != nil:
			return false, "", err
		case err != nil:
			// Down, or not yet reachable by SSM: not an answer.
			return false, "boot id unreadable: " + err.Error(), nil
		case now == before:
			return false, "boot id " + now + ", unchanged", nil
		}
		return true, "boot id " + now, nil
	})
	if te := (*TimeoutError)(nil); errors.As(err, &te) {
		te.After = b.timeouts.Reboot // the whole of Reboot's time was spent
	}
	if err != nil {
		return err
	}
	left = deadline.Sub(b.poll.clock.Now())
	if left <= 0 {
		return &TimeoutError{Wait: fmt.Sprintf("instance %q back after the reboot", id), After: b.timeouts.Reboot}
	}
	// The instance stays "running" in EC2 through a reboot; its agent
	// connected after the new boot is what says it can run tasks again.
	if err := b.waitRunning(ctx, id); err != nil {
		return err
	}
	return b.waitRegistered(ctx, id, left)
}

// bootID reads the instance's boot id through SSM.
func (b *Backend) bootID(ctx context.Context, id string) (string, error) {
	got, err := b.command(ctx, id, BootIDCommand, "boot id")
	if err != nil {
		return "", err
	}
	if got.Status != ssmtypes.CommandInvocationStatusSuccess {
		return "", fmt.Errorf("command %q: SSM status %s, exit code %d: %s", BootIDCommand, got.Status, got.ResponseCode, strings.TrimSpace(aws.ToString(got.StandardErrorContent)))
	}
	s := strings.TrimSpace(aws.ToString(got.StandardOutputContent))
	if !bootIDPattern.MatchString(s) {
		return "", fmt.Errorf("command %q: output %q is not a boot id", BootIDCommand, s)
	}
	return s, nil
}

// DiagnosticCommands are the commands Diagnostics runs on the instance;
// they are the keys of its map.
func DiagnosticCommands() []string {
	return []string{
		"iptables-save",
		"nft list ruleset",
		"journalctl -u ecs --no-pager | tail -n 100",
		"tail -n 100 /var/log/ecs/ecs-agent.log",
	}
}

// Diagnostics runs DiagnosticCommands on the instance through SSM Run
// Command (AWS-RunShellScript), one command each so that SSM's limit on the
// output it returns (24,000 characters) applies to each alone, and returns
// their output by command. A command that fails still gives its output,
// with its status and stderr; the error collects what could not be read.
func (b *Backend) Diagnostics(ctx context.Context) (map[string]string, error) {
	id := b.Instance()
	if id == "" {
		return nil, fmt.Errorf("diagnostics: %w", ErrNotLaunched)
	}
	var (
		mu   sync.Mutex
		out  = make(map[string]string)
		errs []error
		wg   sync.WaitGroup
	)
	for _, cmd := range DiagnosticCommands() {
		wg.Go(func() {
			s, err := b.runCommand(ctx, id, cmd)
			mu.Lock()
			defer mu.Unlock()
			if s != "" {
				out[cmd] = s
			}
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return out, fmt.Errorf("diagnostics of instance %q: %w", id, err)
	}
	return out, nil
}

// runCommand runs one diagnostics command on the instance and returns its
// output, with its status and stderr when it failed.
func (b *Backend) runCommand(ctx context.Context, id, cmd string) (string, error) {
	last, err := b.command(ctx, id, cmd, "diagnostics")
	if last == nil {
		return "", err
	}
	var s strings.Builder
	s.WriteString(aws.ToString(last.StandardOutputContent))
	if last.Status != ssmtypes.CommandInvocationStatusSuccess {
		fmt.Fprintf(&s, "\n[cisecs: SSM status %s, exit code %d]\n", last.Status, last.ResponseCode)
	}
	if e := aws.ToString(last.StandardErrorContent); e != "" {
		fmt.Fprintf(&s, "\n[stderr]\n%s", e)
	}
	return s.String(), err
}

// command runs one shell command on the instance through SSM Run Command
// (AWS-RunShellScript) and returns its invocation as last seen: done, or
// nil with the error if it never could be read. purpose goes into the
// command's comment.
func (b *Backend) command(ctx context.Context, id, cmd, purpose string) (*ssm.GetCommandInvocationOutput, error) {
	sent, err := b.ssm.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String("AWS-RunShellScript"),
		InstanceIds:    []string{id},
		Parameters:     map[string][]string{"commands": {cmd}},
		Comment:        aws.String("cisecs gate " + b.o.Gate.RunID + ": " + purpose),
		TimeoutSeconds: aws.Int32(60),
	})
	if err != nil {
		return nil, fmt.Errorf("send command %q: %w", cmd, err)
	}
	if sent.Command == nil || aws.ToString(sent.Command.CommandId) == "" {
		return nil, fmt.Errorf("send command %q: no command id in the answer", cmd)
	}
	in := &ssm.GetCommandInvocationInput{CommandId: sent.Command.CommandId, InstanceId: aws.String(id)}
	accept := commandExecuted(b.ssm)
	var last *ssm.GetCommandInvocationOutput
	err = b.poll.wait(ctx, fmt.Sprintf("command %q (%s)", cmd, aws.ToString(in.CommandId)), b.timeouts.Command, func(ctx context.Context) (bool, string, error) {
		got, err := b.ssm.GetCommandInvocation(ctx, in)
		if err == nil {
			last = got
		}
		retry, err := accept(ctx, in, got, err)
		if got != nil && commandDone(got.Status) {
			// Success, or a failure whose output is still worth having.
			return true, string(got.Status), nil
		}
		state := ""
		if got != nil {
			state = string(got.Status)
		}
		return !retry && err == nil, state, err
	})
	return last, err
}

func commandDone(s ssmtypes.CommandInvocationStatus) bool {
	switch s {
	case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed,
		ssmtypes.CommandInvocationStatusCancelled, ssmtypes.CommandInvocationStatusTimedOut:
		return true
	}
	return false
}
