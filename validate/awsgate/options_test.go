package awsgate_test

import (
	"context"
	"errors"
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
		// InstanceType is given: Launch goes straight to RunInstances,
		// without DescribeImages.
		Gate:         validate.Options{ImageID: testAMI, RoleARN: testRole, ProbeImage: testProbeImg, RunID: "run-1"},
		InstanceType: "t3.small", Subnet: testSubnet, SecurityGroup: testSG, InstanceProfile: "cisecs-gate-instance",
		EC2: &fakeEC2{}, ECS: &fakeECS{}, Tasks: &fakeECS{}, SSM: &fakeSSM{}, IAM: roleExists(), Network: publicSubnet(),
	}
}

// TestNew checks that New takes every well-formed setting, and refuses
// the bad ones all at once, the gate's among them, each a
// *validate.SettingError that names the setting (one name each: the
// gate's own for the settings they share), says what is wrong and what a
// good value looks like.
func TestNew(t *testing.T) {
	tests := []struct {
		name string
		edit func(*awsgate.Options)
		// want are the settings refused, in order, and a part of each
		// message; none: no error.
		want [][2]string
	}{
		{name: "complete", edit: func(*awsgate.Options) {}},
		{name: "well-formed variants", edit: func(o *awsgate.Options) {
			o.Gate.ImageID, o.Subnet, o.SecurityGroup = "ami-0123abcd", "subnet-0123abcd", "sg-0123abcd"
			o.Region, o.InstanceType = "us-gov-west-1", "m7g.medium"
			o.InstanceProfile = "arn:aws:iam::123456789012:instance-profile/gate/cisecs-gate-instance"
			o.Gate.RoleARN = "arn:aws-cn:iam::123456789012:role/service-role/cisecs-probe"
			o.Gate.ProbeImage = "" // the gate's default
			o.ExecutionRoleARN = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole"
		}},
		{name: "no ami", edit: func(o *awsgate.Options) { o.Gate.ImageID = "" }, want: [][2]string{{"ImageID", "ImageID: required; want ami- and 8 or 17 hex digits"}}},
		{name: "placeholder ami", edit: func(o *awsgate.Options) { o.Gate.ImageID = "ami-..." }, want: [][2]string{{"ImageID", `ImageID "ami-...": not an AMI id; want ami- and 8 or 17 hex digits, like ami-0123456789abcdef0`}}},
		{name: "bad region", edit: func(o *awsgate.Options) { o.Region = "EU_WEST_1" }, want: [][2]string{{"Region", `Region "EU_WEST_1": not a region name; want one like eu-west-1`}}},
		{name: "no subnet", edit: func(o *awsgate.Options) { o.Subnet = " " }, want: [][2]string{{"Subnet", "Subnet: required; want subnet-"}}},
		{name: "bad subnet", edit: func(o *awsgate.Options) { o.Subnet = "subnet-1" }, want: [][2]string{{"Subnet", `Subnet "subnet-1": not a subnet id; want subnet-`}}},
		{name: "no security group", edit: func(o *awsgate.Options) { o.SecurityGroup = "" }, want: [][2]string{{"SecurityGroup", "SecurityGroup: required; want sg-"}}},
		{name: "security group name", edit: func(o *awsgate.Options) { o.SecurityGroup = "default" }, want: [][2]string{{"SecurityGroup", `SecurityGroup "default": not a security group id`}}},
		{name: "no instance profile", edit: func(o *awsgate.Options) { o.InstanceProfile = "" }, want: [][2]string{{"InstanceProfile", "InstanceProfile: required"}}},
		{name: "role for instance profile", edit: func(o *awsgate.Options) { o.InstanceProfile = testRole }, want: [][2]string{{"InstanceProfile", "not an instance profile name or ARN; want a name like cisecs-gate-instance, or an ARN like arn:aws:iam::123456789012:instance-profile/"}}},
		{name: "bad instance type", edit: func(o *awsgate.Options) { o.InstanceType = "small" }, want: [][2]string{{"InstanceType", `InstanceType "small": not an instance type; want one like t3.small`}}},
		{name: "no task role", edit: func(o *awsgate.Options) { o.Gate.RoleARN = "" }, want: [][2]string{{"RoleARN", "RoleARN: required; want one like arn:aws:iam::"}}},
		{name: "task role name", edit: func(o *awsgate.Options) { o.Gate.RoleARN = "cisecs-probe" }, want: [][2]string{{"RoleARN", `RoleARN "cisecs-probe": not an IAM role ARN`}}},
		{name: "execution role name", edit: func(o *awsgate.Options) { o.ExecutionRoleARN = "ecsTaskExecutionRole" }, want: [][2]string{{"ExecutionRoleARN", `ExecutionRoleARN "ecsTaskExecutionRole": not an IAM role ARN`}}},
		{name: "bad probe image", edit: func(o *awsgate.Options) { o.Gate.ProbeImage = "x y" }, want: [][2]string{{"ProbeImage", `probe image "x y": not an image reference`}}},
		{name: "bad run id", edit: func(o *awsgate.Options) { o.Gate.RunID = "a/b" }, want: [][2]string{{"RunID", `run id "a/b": want 1 to 64`}}},
		{name: "empty run id", edit: func(o *awsgate.Options) { o.Gate.RunID = "" }, want: [][2]string{{"RunID", "RunID: required: default the gate's options once"}}},
		{name: "bad parameter", edit: func(o *awsgate.Options) { o.Gate.Publish = "/aws/x" }, want: [][2]string{{"Publish", `parameter "/aws/x": not an SSM parameter name`}}},
		{name: "all at once", edit: func(o *awsgate.Options) {
			o.Gate.ImageID, o.Region, o.Subnet, o.SecurityGroup, o.InstanceProfile, o.Gate.RoleARN = "ami-...", "EU_WEST_1", "", "sg-1", "", "r"
		}, want: [][2]string{{"ImageID", "ami-..."}, {"Region", "EU_WEST_1"}, {"Subnet", "required"}, {"SecurityGroup", "sg-1"}, {"InstanceProfile", "required"}, {"RoleARN", `"r"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := fakeOptions()
			tt.edit(&o)
			b, err := awsgate.New(t.Context(), o)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if b.Name() != "aws" || b.Cluster() != "cisecs-gate-run-1" || b.Family("awsvpc") != "cisecs-gate-run-1-awsvpc" {
					t.Errorf("names: %s %s %s", b.Name(), b.Cluster(), b.Family("awsvpc"))
				}
				return
			}
			got := settingErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("New: %v; want %d setting errors", err, len(tt.want))
			}
			for i, w := range tt.want {
				if got[i].Setting != w[0] || !strings.Contains(got[i].Error(), w[1]) {
					t.Errorf("error %d: %s: %v; want %s: %q", i, got[i].Setting, got[i], w[0], w[1])
				}
			}
		})
	}
}

// settingErrors are the *validate.SettingErrors err joins, in order.
func settingErrors(err error) []*validate.SettingError {
	var out []*validate.SettingError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *validate.SettingError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, x := range e.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	if err != nil {
		walk(err)
	}
	return out
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

// TestProbeImageFromPrivateECR: the checks take a probe image in the
// account's own ECR (by tag or by digest), for subnets that reach the
// registries through VPC endpoints only.
func TestProbeImageFromPrivateECR(t *testing.T) {
	for _, img := range []string{
		validate.DefaultProbeImage,
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/cisecs/probe:2023",
		"123456789012.dkr.ecr.eu-west-1.amazonaws.com/cisecs/probe@sha256:" + strings.Repeat("ab", 32),
		"123456789012.dkr.ecr-fips.us-east-1.amazonaws.com/probe:1",
	} {
		t.Run(img, func(t *testing.T) {
			o := fakeOptions()
			o.Gate.ProbeImage = img
			if err := o.Check(); err != nil {
				t.Errorf("refused: %v", err)
			}
		})
	}
}

// TestLaunchBadProbe: a probe of no known mode stops Launch before it
// calls AWS, naming the mode.
func TestLaunchBadProbe(t *testing.T) {
	b, err := awsgate.New(t.Context(), fakeOptions()) // its fakes fail every call
	if err != nil {
		t.Fatal(err)
	}
	err = b.Launch(t.Context(), []validate.Probe{{Mode: "nat"}})
	if err == nil || !strings.Contains(err.Error(), `probe network mode "nat"`) || !strings.Contains(err.Error(), "nothing launched") || errors.Is(err, errUnexpected) {
		t.Errorf("Launch with a nat probe: %v, want it refused before any call, naming the mode", err)
	}
}

// launchLost launches b with fakes whose create calls (CreateCluster,
// RunInstances, RegisterTaskDefinition) have no func: each call is made
// and fails without an answer, so the run may have created anything and
// Cleanup must look for all of it.
func launchLost(t *testing.T, b *awsgate.Backend) {
	t.Helper()
	if err := b.Launch(t.Context(), probes); !errors.Is(err, errUnexpected) {
		t.Fatalf("Launch: %v, want the fakes' unexpected calls", err)
	}
}
