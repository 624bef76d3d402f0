package awsgate_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestCleanupAgentGone: when the instance's ECS agent is gone (dead, its
// instance still running, or its instance terminated while it was seen
// disconnected), ECS never stops its tasks by itself: a StopTask leaves
// them RUNNING, desired STOPPED, until the container instance is
// deregistered by force. Cleanup deregisters such a container instance
// first and does not wait on its tasks: it finishes in about the time the
// instance takes to terminate, not the task timeout, and leaves nothing.
func TestCleanupAgentGone(t *testing.T) {
	for _, tc := range []struct {
		name string
		// gone makes the agent go, after the task started.
		gone func(t *testing.T, e *env, b *awsgate.Backend)
	}{
		{"agent dead", func(t *testing.T, e *env, b *awsgate.Backend) {
			if !e.front.KillAgent(b.Instance()) {
				t.Fatalf("KillAgent(%s): not the front's", b.Instance())
			}
		}},
		{"agent dead, instance terminated", func(t *testing.T, e *env, b *awsgate.Backend) {
			e.front.KillAgent(b.Instance())
			time.Sleep(time.Minute) // ECS sees the agent disconnected
			if _, err := e.ec2.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{b.Instance()}}); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lat := briefLatencies()
			lat.DisconnectSeen = 30 * time.Second
			inBubble(t, awssim.Options{Latencies: lat, Probe: holdingProbe}, func(t *testing.T, e *env) {
				b := e.backend(t, func(o *awsgate.Options) { o.Timeouts.Task = 20 * time.Minute })
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				if _, err := b.StartTask(t.Context(), validate.Probe{Mode: release.ModeBridge, RoleARN: testRole, Hold: true}); err != nil {
					t.Fatalf("StartTask: %v", err)
				}
				tc.gone(t, e, b)
				time.Sleep(time.Minute) // ECS sees the agent disconnected

				start := time.Now()
				err := b.Cleanup(context.Background())
				took := time.Since(start)
				if err != nil {
					t.Errorf("Cleanup: %v", err)
				}
				// 30 s to terminate, polled every 5 s: well under the
				// 20-minute task timeout a wait for the tasks burns.
				if took > 2*time.Minute {
					t.Errorf("Cleanup took %s, want about the 30s the instance takes to terminate", took)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestCleanupRightAfterLaunch: EC2 is eventually consistent, and for a
// while after RunInstances answers it answers InvalidInstanceID.NotFound
// for the new id (and lists it under no tag). A Launch that fails then
// (CreateCluster refused, 1 s after the instance started) is cleaned up at
// once: Cleanup must not take the instance for gone, but look again until
// EC2 shows it, and terminate it.
func TestCleanupRightAfterLaunch(t *testing.T) {
	lat := briefLatencies()
	lat.InstanceVisible = 20 * time.Second
	o := awssim.Options{Latencies: lat, Fault: failOnce("CreateCluster", "AccessDeniedException")}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		if err := b.Launch(t.Context(), probes); err == nil || !strings.Contains(err.Error(), "AccessDeniedException") {
			t.Fatalf("Launch: %v, want the CreateCluster failure", err)
		}
		if b.Instance() == "" {
			t.Fatal("Launch started no instance: the test needs one")
		}
		start := time.Now()
		if err := b.Cleanup(context.Background()); err != nil {
			t.Fatalf("Cleanup: %v", err)
		}
		e.assertClean(t, runID(t))
		if took := time.Since(start); took > 2*time.Minute {
			t.Errorf("Cleanup took %s, want less than 2m (20 s to see the instance, 30 s to terminate it)", took)
		}
		if got := e.front.Calls("TerminateInstances"); got != 1 {
			t.Errorf("%d TerminateInstances, want 1", got)
		}
	})
}

// TestCleanupRetry makes one cleanup step fail once: Cleanup reports it,
// goes on with the rest, and a second Cleanup (as the gate retries)
// finishes the job.
func TestCleanupRetry(t *testing.T) {
	tests := []struct {
		op, code, want string
	}{
		{"TerminateInstances", "UnauthorizedOperation", "terminate instances"},
		{"DeleteCluster", "AccessDeniedException", "delete cluster"},
		{"DeregisterTaskDefinition", "ClientException", "deregister task definition"},
		{"StopTask", "AccessDeniedException", "stop task"},
		{"ListContainerInstances", "AccessDeniedException", "list container instances"},
		{"DescribeInstances", "UnauthorizedOperation", "find instances"},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			held := validate.Probe{Mode: release.ModeAWSVPC, RoleARN: testRole, Hold: true}
			var armed bool
			o := awssim.Options{
				Latencies: briefLatencies(),
				Probe:     holdingProbe,
				Fault: func(op string, _ int) *awssim.APIError {
					if armed && op == tt.op {
						armed = false
						return &awssim.APIError{Code: tt.code, Message: "scripted failure"}
					}
					return nil
				},
			}
			inBubble(t, o, func(t *testing.T, e *env) {
				b := e.backend(t, nil)
				if err := b.Launch(t.Context(), probes); err != nil {
					t.Fatalf("Launch: %v", err)
				}
				if _, err := b.StartTask(t.Context(), held); err != nil {
					t.Fatalf("StartTask: %v", err)
				}
				armed = true
				err := b.Cleanup(context.Background())
				if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.code) {
					t.Errorf("first Cleanup: %v, want an error of %s (%s)", err, tt.want, tt.code)
				}
				if err := b.Cleanup(context.Background()); err != nil {
					t.Fatalf("second Cleanup: %v", err)
				}
				e.assertClean(t, runID(t))
			})
		})
	}
}

// TestCleanupNothing: Cleanup before Launch, or twice, has nothing to do:
// the run asked AWS to create nothing, so Cleanup makes no call at all (a
// call that fails could only claim leftovers that do not exist).
func TestCleanupNothing(t *testing.T) {
	o := awssim.Options{Latencies: briefLatencies(), InvalidCredentials: true}
	inBubble(t, o, func(t *testing.T, e *env) {
		b := e.backend(t, nil)
		for i := range 2 {
			if err := b.Cleanup(context.Background()); err != nil {
				t.Fatalf("Cleanup #%d: %v", i+1, err)
			}
		}
		if ops := e.front.Ops(); len(ops) > 0 {
			t.Errorf("Cleanup called %v, want nothing", ops)
		}
	})
}

// TestCleanupGone: everything Cleanup finds vanishes before it acts (as
// when two cleanups race); every "not found" is taken as done.
func TestCleanupGone(t *testing.T) {
	var terminated []string
	o := fakeOptions()
	o.PollInterval = time.Millisecond
	o.EC2 = &fakeEC2{
		DescribeInstancesFunc: func(_ context.Context, in *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
			if len(in.InstanceIds) > 0 {
				return nil, notFoundError("InvalidInstanceID.NotFound")
			}
			return &ec2.DescribeInstancesOutput{Reservations: []ec2types.Reservation{{Instances: []ec2types.Instance{{
				InstanceId: aws.String("i-gone"), State: &ec2types.InstanceState{Name: ec2types.InstanceStateNameRunning},
			}}}}}, nil
		},
		TerminateInstancesFunc: func(_ context.Context, in *ec2.TerminateInstancesInput) (*ec2.TerminateInstancesOutput, error) {
			terminated = append(terminated, in.InstanceIds...)
			return nil, notFoundError("InvalidInstanceID.NotFound")
		},
	}
	gone := func() error { return notFoundError("ClusterNotFoundException") }
	fe := &fakeECS{
		ListTasksFunc: func(context.Context, *ecs.ListTasksInput) (*ecs.ListTasksOutput, error) { return nil, gone() },
		DescribeTasksFunc: func(context.Context, *ecs.DescribeTasksInput) (*ecs.DescribeTasksOutput, error) {
			return nil, gone()
		},
		ListContainerInstancesFunc: func(context.Context, *ecs.ListContainerInstancesInput) (*ecs.ListContainerInstancesOutput, error) {
			return nil, gone()
		},
		ListTaskDefinitionsFunc: func(_ context.Context, in *ecs.ListTaskDefinitionsInput) (*ecs.ListTaskDefinitionsOutput, error) {
			return &ecs.ListTaskDefinitionsOutput{TaskDefinitionArns: []string{"arn:td/" + aws.ToString(in.FamilyPrefix) + ":1"}}, nil
		},
		DeregisterTaskDefinitionFunc: func(context.Context, *ecs.DeregisterTaskDefinitionInput) (*ecs.DeregisterTaskDefinitionOutput, error) {
			return nil, &smithy.GenericAPIError{Code: "ClientException", Message: "The specified task definition was not found"}
		},
		DeleteClusterFunc: func(context.Context, *ecs.DeleteClusterInput) (*ecs.DeleteClusterOutput, error) { return nil, gone() },
	}
	o.ECS, o.Tasks = fe, fe
	b, err := awsgate.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	launchLost(t, b)
	if err := b.Cleanup(t.Context()); err != nil {
		t.Errorf("Cleanup: %v", err)
	}
	if len(terminated) != 1 || terminated[0] != "i-gone" {
		t.Errorf("terminated %q, want i-gone", terminated)
	}
}

// TestCleanupJoinsErrors: Cleanup goes on past failures and reports each.
func TestCleanupJoinsErrors(t *testing.T) {
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "no"}
	o := fakeOptions()
	o.EC2 = &fakeEC2{DescribeInstancesFunc: func(context.Context, *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error) {
		return nil, denied
	}}
	fe := &fakeECS{
		ListTasksFunc: func(context.Context, *ecs.ListTasksInput) (*ecs.ListTasksOutput, error) {
			return &ecs.ListTasksOutput{}, nil
		},
		DescribeTasksFunc: func(context.Context, *ecs.DescribeTasksInput) (*ecs.DescribeTasksOutput, error) {
			return &ecs.DescribeTasksOutput{}, nil
		},
		ListContainerInstancesFunc: func(context.Context, *ecs.ListContainerInstancesInput) (*ecs.ListContainerInstancesOutput, error) {
			return &ecs.ListContainerInstancesOutput{}, nil
		},
		ListTaskDefinitionsFunc: func(context.Context, *ecs.ListTaskDefinitionsInput) (*ecs.ListTaskDefinitionsOutput, error) {
			return nil, denied
		},
		DeleteClusterFunc: func(context.Context, *ecs.DeleteClusterInput) (*ecs.DeleteClusterOutput, error) { return nil, denied },
	}
	o.ECS, o.Tasks = fe, fe
	b, err := awsgate.New(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	launchLost(t, b)
	err = b.Cleanup(t.Context())
	for _, want := range []string{`cleanup of run "run-1"`, `find instances of run "run-1"`, `task definitions of family "cisecs-gate-run-1-awsvpc"`, `family "cisecs-gate-run-1-bridge"`, `delete cluster "cisecs-gate-run-1"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Cleanup: %v; want it to say %q", err, want)
		}
	}
}
