package awsgate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/cisecs/cisecs/validate"
)

// TimeoutError says a wait ran out of time. Callers use errors.As.
type TimeoutError struct {
	// Wait names what was awaited, e.g. `instance "i-0abc" running`.
	Wait string
	// After is how long it was awaited.
	After time.Duration
	// Last is the last state seen, when there was one.
	Last string
}

func (e *TimeoutError) Error() string {
	if e.Last == "" {
		return fmt.Sprintf("%s: timed out after %s", e.Wait, e.After)
	}
	return fmt.Sprintf("%s: timed out after %s (last seen: %s)", e.Wait, e.After, e.Last)
}

// IsTimeout reports whether err is, or wraps, a TimeoutError.
func IsTimeout(err error) bool {
	var t *TimeoutError
	return errors.As(err, &t)
}

// poller waits on a Clock: no fixed sleeps, only a check every interval.
type poller struct {
	clock    validate.Clock
	interval time.Duration
}

// check looks once: done says the wait is over, state is what it saw (for
// the timeout message); an error ends the wait.
type check func(ctx context.Context) (done bool, state string, err error)

// wait calls c at once and then every interval until it is done, fails, ctx
// ends or timeout has passed.
func (p poller) wait(ctx context.Context, what string, timeout time.Duration, c check) error {
	deadline := p.clock.Now().Add(timeout)
	for {
		done, state, err := c(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("%s: %w", what, context.Cause(ctx))
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		if done {
			return nil
		}
		if !p.clock.Now().Before(deadline) {
			return &TimeoutError{Wait: what, After: timeout, Last: state}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, context.Cause(ctx))
		case <-p.clock.After(p.interval):
		}
	}
}

// The SDK's waiters sleep on the real clock, so the backend cannot hand its
// Clock to them. It takes their service-modeled acceptors instead (which
// states succeed, which fail, which errors mean "not yet") and polls on its
// own Clock: the same decisions as ec2.InstanceRunningWaiter and friends,
// on the gate's time.

type acceptor[In, Out any] func(context.Context, In, Out, error) (retry bool, err error)

func instanceRunning(c ec2.DescribeInstancesAPIClient) (a acceptor[*ec2.DescribeInstancesInput, *ec2.DescribeInstancesOutput]) {
	ec2.NewInstanceRunningWaiter(c, func(o *ec2.InstanceRunningWaiterOptions) { a = o.Retryable })
	return a
}

func instanceTerminated(c ec2.DescribeInstancesAPIClient) (a acceptor[*ec2.DescribeInstancesInput, *ec2.DescribeInstancesOutput]) {
	ec2.NewInstanceTerminatedWaiter(c, func(o *ec2.InstanceTerminatedWaiterOptions) { a = o.Retryable })
	return a
}

func tasksStopped(c ecs.DescribeTasksAPIClient) (a acceptor[*ecs.DescribeTasksInput, *ecs.DescribeTasksOutput]) {
	ecs.NewTasksStoppedWaiter(c, func(o *ecs.TasksStoppedWaiterOptions) { a = o.Retryable })
	return a
}

func tasksRunning(c ecs.DescribeTasksAPIClient) (a acceptor[*ecs.DescribeTasksInput, *ecs.DescribeTasksOutput]) {
	ecs.NewTasksRunningWaiter(c, func(o *ecs.TasksRunningWaiterOptions) { a = o.Retryable })
	return a
}

func commandExecuted(c ssm.GetCommandInvocationAPIClient) (a acceptor[*ssm.GetCommandInvocationInput, *ssm.GetCommandInvocationOutput]) {
	ssm.NewCommandExecutedWaiter(c, func(o *ssm.CommandExecutedWaiterOptions) { a = o.Retryable })
	return a
}
