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

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

func fakeOptions() awsgate.Options {
	return awsgate.Options{
		AMI: testAMI, Subnet: "subnet-1", SecurityGroup: "sg-1", InstanceProfile: "p", TaskRoleARN: testRole,
		ProbeImage: testProbeImg, ProbeScript: probeScript, RunID: "run-1",
		EC2: &fakeEC2{}, ECS: &fakeECS{}, Tasks: &fakeECS{}, SSM: &fakeSSM{},
	}
}

// TestNew checks that New refuses incomplete options, naming what is
// missing.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		edit func(*awsgate.Options)
		want string // empty: no error
	}{
		{name: "complete", edit: func(*awsgate.Options) {}},
		{name: "no ami", edit: func(o *awsgate.Options) { o.AMI = "" }, want: "AMI is required"},
		{name: "no subnet", edit: func(o *awsgate.Options) { o.Subnet = " " }, want: "Subnet is required"},
		{name: "no security group", edit: func(o *awsgate.Options) { o.SecurityGroup = "" }, want: "SecurityGroup is required"},
		{name: "no instance profile", edit: func(o *awsgate.Options) { o.InstanceProfile = "" }, want: "InstanceProfile is required"},
		{name: "no task role", edit: func(o *awsgate.Options) { o.TaskRoleARN = "" }, want: "TaskRoleARN is required"},
		{name: "no probe image", edit: func(o *awsgate.Options) { o.ProbeImage = "" }, want: "ProbeImage is required"},
		{name: "no probe script", edit: func(o *awsgate.Options) { o.ProbeScript = nil }, want: "ProbeScript is required"},
		{name: "bad run id", edit: func(o *awsgate.Options) { o.RunID = "a/b" }, want: `run id "a/b"`},
		{name: "empty run id", edit: func(o *awsgate.Options) { o.RunID = "" }, want: `run id ""`},
		{name: "bad mode", edit: func(o *awsgate.Options) { o.Probes = []validate.Probe{{Mode: "host"}} }, want: `probe network mode "host"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fakeOptions()
			tt.edit(&o)
			b, err := awsgate.New(t.Context(), o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if b.Name() != "aws" || b.Cluster() != "cisecs-gate-run-1" || b.Family("awsvpc") != "cisecs-gate-run-1-awsvpc" {
					t.Errorf("names: %s %s %s", b.Name(), b.Cluster(), b.Family("awsvpc"))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestNotLaunched: the task and host methods refuse to run before Launch.
func TestNotLaunched(t *testing.T) {
	b, err := awsgate.New(t.Context(), fakeOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := validate.Probe{Mode: validate.ModeAWSVPC, RoleARN: testRole}
	if _, err := b.RunProbe(t.Context(), p); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("RunProbe: %v", err)
	}
	if _, err := b.StartTask(t.Context(), p); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("StartTask: %v", err)
	}
	if err := b.Reboot(t.Context()); err == nil || !strings.Contains(err.Error(), "Launch first") {
		t.Errorf("Reboot: %v", err)
	}
}

func notFoundError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "not found"}
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
	err = b.Cleanup(t.Context())
	for _, want := range []string{`cleanup of run "run-1"`, `find instances of run "run-1"`, `task definitions of family "cisecs-gate-run-1-awsvpc"`, `family "cisecs-gate-run-1-bridge"`, `delete cluster "cisecs-gate-run-1"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Cleanup: %v; want it to say %q", err, want)
		}
	}
}
