package awsgate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// ErrNotLaunched is returned by the task and host methods before Launch
// succeeded.
var ErrNotLaunched = errors.New("no instance registered: Launch first")

// RunProbe runs p on the instance and waits for it to stop; the outcome is
// the probe container's exit code and ECS's reasons.
func (b *Backend) RunProbe(ctx context.Context, p validate.Probe) (validate.Outcome, error) {
	arn, err := b.startTask(ctx, p)
	if err != nil {
		return validate.Outcome{}, err
	}
	task, err := b.waitTask(ctx, arn, "stopped", tasksStopped(b.tasks))
	if err != nil {
		return validate.Outcome{TaskID: arn, ExitCode: -1}, err
	}
	return outcome(arn, task), nil
}

// StartTask starts p (which holds, so it keeps running) and returns once
// ECS reports it running. A task that stops instead is an error that
// carries its outcome.
func (b *Backend) StartTask(ctx context.Context, p validate.Probe) (string, error) {
	arn, err := b.startTask(ctx, p)
	if err != nil {
		return "", err
	}
	task, err := b.waitTask(ctx, arn, "running", tasksRunning(b.tasks))
	if err != nil {
		if task != nil && aws.ToString(task.LastStatus) == "STOPPED" {
			o := outcome(arn, task)
			return arn, fmt.Errorf("%w: it stopped with exit code %d: %s", err, o.ExitCode, o.Reason)
		}
		return arn, err
	}
	return arn, nil
}

// ForceStop stops the task by force (ECS StopTask) and waits until ECS
// reports it stopped.
func (b *Backend) ForceStop(ctx context.Context, taskID string) error {
	_, err := b.tasks.StopTask(ctx, &ecs.StopTaskInput{
		Cluster: aws.String(b.Cluster()),
		Task:    aws.String(taskID),
		Reason:  aws.String(ForcedStopReason),
	})
	if err != nil {
		return fmt.Errorf("stop task %q: %w", taskID, err)
	}
	_, err = b.waitTask(ctx, taskID, "stopped", tasksStopped(b.tasks))
	return err
}

// startTask runs p's task definition on the instance and returns the
// task's ARN.
func (b *Backend) startTask(ctx context.Context, p validate.Probe) (string, error) {
	b.mu.Lock()
	instance, registered := b.instance, b.container != ""
	b.mu.Unlock()
	if !registered {
		return "", fmt.Errorf("run %s probe: %w", p.Mode, ErrNotLaunched)
	}
	td, err := b.taskDefinition(ctx, p)
	if err != nil {
		return "", fmt.Errorf("run %s probe: %w", p.Mode, err)
	}
	in := &ecs.RunTaskInput{
		Cluster:        aws.String(b.Cluster()),
		TaskDefinition: aws.String(td),
		LaunchType:     ecstypes.LaunchTypeEc2,
		Count:          aws.Int32(1),
		StartedBy:      aws.String("cisecs-gate"),
		PlacementConstraints: []ecstypes.PlacementConstraint{{
			Type:       ecstypes.PlacementConstraintTypeMemberOf,
			Expression: aws.String("ec2InstanceId == " + instance),
		}},
		Tags: b.ecsTags(),
	}
	if p.Mode == release.ModeAWSVPC {
		in.NetworkConfiguration = &ecstypes.NetworkConfiguration{
			AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
				Subnets:        []string{b.o.Subnet},
				SecurityGroups: []string{b.o.SecurityGroup},
			},
		}
	}
	if p.Mode == release.ModeAWSVPC {
		b.ask(func(a *asked) { a.enis = true }) // ECS creates the task's network interface
	}
	out, err := b.tasks.RunTask(ctx, in)
	if err != nil {
		return "", fmt.Errorf("run task %q on instance %q: %w", td, instance, err)
	}
	if len(out.Tasks) != 1 {
		return "", fmt.Errorf("run task %q on instance %q: %d tasks started, want 1: %s", td, instance, len(out.Tasks), failures(out.Failures))
	}
	arn := aws.ToString(out.Tasks[0].TaskArn)
	b.mu.Lock()
	b.started = append(b.started, arn)
	b.mu.Unlock()
	return arn, nil
}

// waitTask waits until accept says the task reached state, and returns the
// task as last described (also on failure, when there was one).
func (b *Backend) waitTask(ctx context.Context, arn, state string, accept acceptor[*ecs.DescribeTasksInput, *ecs.DescribeTasksOutput]) (*ecstypes.Task, error) {
	in := &ecs.DescribeTasksInput{Cluster: aws.String(b.Cluster()), Tasks: []string{arn}}
	var last *ecstypes.Task
	err := b.poll.wait(ctx, fmt.Sprintf("task %q %s", arn, state), b.timeouts.Task, func(ctx context.Context) (bool, string, error) {
		out, err := b.tasks.DescribeTasks(ctx, in)
		if err == nil && len(out.Tasks) == 1 {
			last = &out.Tasks[0]
			if err := b.tagENI(ctx, last); err != nil {
				return false, "", err
			}
		}
		retry, err := accept(ctx, in, out, err)
		if err != nil && out != nil && len(out.Failures) > 0 {
			err = fmt.Errorf("%w: %s", err, failures(out.Failures))
		}
		seen := ""
		if last != nil {
			seen = aws.ToString(last.LastStatus)
		}
		return !retry && err == nil, seen, err
	})
	return last, err
}

// outcome reads how a stopped task ended: the probe container's exit code
// (-1 when it has none, e.g. it never started) and the reasons ECS gives.
func outcome(arn string, t *ecstypes.Task) validate.Outcome {
	o := validate.Outcome{TaskID: arn, ExitCode: -1}
	var reasons []string
	if r := aws.ToString(t.StoppedReason); r != "" {
		reasons = append(reasons, r)
	}
	for _, c := range t.Containers {
		if aws.ToString(c.Name) != probeContainer {
			continue
		}
		if c.ExitCode != nil {
			o.ExitCode = int(*c.ExitCode)
		}
		if r := aws.ToString(c.Reason); r != "" {
			reasons = append(reasons, "container: "+r)
		}
	}
	if t.StopCode != "" {
		reasons = append(reasons, "stop code "+string(t.StopCode))
	}
	o.Reason = strings.Join(reasons, "; ")
	return o
}
