package awsgate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// Reboot reboots the instance and waits until it can run tasks again: it
// waits for ECS to see the agent disconnect, then for the agent to be
// connected again. Seeing the disconnect is what proves the reboot
// happened; if it is never seen, Reboot times out (it fails closed).
func (b *Backend) Reboot(ctx context.Context) error {
	b.mu.Lock()
	id, registered := b.instance, b.container != ""
	b.mu.Unlock()
	if !registered {
		return fmt.Errorf("reboot: %w", ErrNotLaunched)
	}
	deadline := b.poll.clock.Now().Add(b.timeouts.Reboot)
	if _, err := b.ec2.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: []string{id}}); err != nil {
		return fmt.Errorf("reboot instance %q: %w", id, err)
	}
	err := b.poll.wait(ctx, fmt.Sprintf("instance %q: agent disconnected by the reboot", id), b.timeouts.Reboot, func(ctx context.Context) (bool, string, error) {
		ci, err := b.containerInstance(ctx, id)
		if err != nil {
			return false, "", err
		}
		if ci == nil {
			return true, "not registered", nil
		}
		return !ci.AgentConnected || aws.ToString(ci.Status) != "ACTIVE", fmt.Sprintf("status %s, agent connected %t", aws.ToString(ci.Status), ci.AgentConnected), nil
	})
	if err != nil {
		return err
	}
	left := deadline.Sub(b.poll.clock.Now())
	if left <= 0 {
		return &TimeoutError{Wait: fmt.Sprintf("instance %q back after the reboot", id), After: b.timeouts.Reboot}
	}
	// The instance stays "running" in EC2 through a reboot; its agent
	// reconnecting is what says it can run tasks again.
	if err := b.waitRunning(ctx, id); err != nil {
		return err
	}
	return b.waitRegistered(ctx, id, left)
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

// runCommand runs one shell command on the instance and returns its
// output.
func (b *Backend) runCommand(ctx context.Context, id, cmd string) (string, error) {
	sent, err := b.ssm.SendCommand(ctx, &ssm.SendCommandInput{
		DocumentName:   aws.String("AWS-RunShellScript"),
		InstanceIds:    []string{id},
		Parameters:     map[string][]string{"commands": {cmd}},
		Comment:        aws.String("cisecs gate " + b.o.RunID + ": diagnostics"),
		TimeoutSeconds: aws.Int32(60),
	})
	if err != nil {
		return "", fmt.Errorf("send command %q: %w", cmd, err)
	}
	if sent.Command == nil || aws.ToString(sent.Command.CommandId) == "" {
		return "", fmt.Errorf("send command %q: no command id in the answer", cmd)
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

func commandDone(s ssmtypes.CommandInvocationStatus) bool {
	switch s {
	case ssmtypes.CommandInvocationStatusSuccess, ssmtypes.CommandInvocationStatusFailed,
		ssmtypes.CommandInvocationStatusCancelled, ssmtypes.CommandInvocationStatusTimedOut:
		return true
	}
	return false
}
