package awsgate_test

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// Hand-written fakes: a func field per operation; an operation whose func
// is nil fails with errUnexpected.

var errUnexpected = errors.New("fake: unexpected call")

type fakeSSM struct {
	SendCommandFunc          func(context.Context, *ssm.SendCommandInput) (*ssm.SendCommandOutput, error)
	GetCommandInvocationFunc func(context.Context, *ssm.GetCommandInvocationInput) (*ssm.GetCommandInvocationOutput, error)
}

var _ awsgate.CommandAPI = (*fakeSSM)(nil)

func (f *fakeSSM) SendCommand(ctx context.Context, in *ssm.SendCommandInput, _ ...func(*ssm.Options)) (*ssm.SendCommandOutput, error) {
	if f.SendCommandFunc == nil {
		return nil, errUnexpected
	}
	return f.SendCommandFunc(ctx, in)
}

func (f *fakeSSM) GetCommandInvocation(ctx context.Context, in *ssm.GetCommandInvocationInput, _ ...func(*ssm.Options)) (*ssm.GetCommandInvocationOutput, error) {
	if f.GetCommandInvocationFunc == nil {
		return nil, errUnexpected
	}
	return f.GetCommandInvocationFunc(ctx, in)
}

type fakeEC2 struct {
	DescribeInstancesFunc  func(context.Context, *ec2.DescribeInstancesInput) (*ec2.DescribeInstancesOutput, error)
	DescribeImagesFunc     func(context.Context, *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error)
	RunInstancesFunc       func(context.Context, *ec2.RunInstancesInput) (*ec2.RunInstancesOutput, error)
	RebootInstancesFunc    func(context.Context, *ec2.RebootInstancesInput) (*ec2.RebootInstancesOutput, error)
	TerminateInstancesFunc func(context.Context, *ec2.TerminateInstancesInput) (*ec2.TerminateInstancesOutput, error)

	DescribeNetworkInterfacesFunc func(context.Context, *ec2.DescribeNetworkInterfacesInput) (*ec2.DescribeNetworkInterfacesOutput, error)
	CreateTagsFunc                func(context.Context, *ec2.CreateTagsInput) (*ec2.CreateTagsOutput, error)
	DeleteNetworkInterfaceFunc    func(context.Context, *ec2.DeleteNetworkInterfaceInput) (*ec2.DeleteNetworkInterfaceOutput, error)
}

var _ awsgate.EC2API = (*fakeEC2)(nil)

func (f *fakeEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, _ ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if f.DescribeInstancesFunc == nil {
		return nil, errUnexpected
	}
	return f.DescribeInstancesFunc(ctx, in)
}

func (f *fakeEC2) DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, _ ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error) {
	if f.DescribeImagesFunc == nil {
		return nil, errUnexpected
	}
	return f.DescribeImagesFunc(ctx, in)
}

func (f *fakeEC2) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if f.RunInstancesFunc == nil {
		return nil, errUnexpected
	}
	return f.RunInstancesFunc(ctx, in)
}

func (f *fakeEC2) RebootInstances(ctx context.Context, in *ec2.RebootInstancesInput, _ ...func(*ec2.Options)) (*ec2.RebootInstancesOutput, error) {
	if f.RebootInstancesFunc == nil {
		return nil, errUnexpected
	}
	return f.RebootInstancesFunc(ctx, in)
}

func (f *fakeEC2) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, _ ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	if f.TerminateInstancesFunc == nil {
		return nil, errUnexpected
	}
	return f.TerminateInstancesFunc(ctx, in)
}

func (f *fakeEC2) DescribeNetworkInterfaces(ctx context.Context, in *ec2.DescribeNetworkInterfacesInput, _ ...func(*ec2.Options)) (*ec2.DescribeNetworkInterfacesOutput, error) {
	if f.DescribeNetworkInterfacesFunc == nil {
		return nil, errUnexpected
	}
	return f.DescribeNetworkInterfacesFunc(ctx, in)
}

func (f *fakeEC2) CreateTags(ctx context.Context, in *ec2.CreateTagsInput, _ ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error) {
	if f.CreateTagsFunc == nil {
		return nil, errUnexpected
	}
	return f.CreateTagsFunc(ctx, in)
}

func (f *fakeEC2) DeleteNetworkInterface(ctx context.Context, in *ec2.DeleteNetworkInterfaceInput, _ ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error) {
	if f.DeleteNetworkInterfaceFunc == nil {
		return nil, errUnexpected
	}
	return f.DeleteNetworkInterfaceFunc(ctx, in)
}

// fakeECS fakes both ClusterAPI and TaskAPI.
type fakeECS struct {
	CreateClusterFunc               func(context.Context, *ecs.CreateClusterInput) (*ecs.CreateClusterOutput, error)
	DeleteClusterFunc               func(context.Context, *ecs.DeleteClusterInput) (*ecs.DeleteClusterOutput, error)
	ListContainerInstancesFunc      func(context.Context, *ecs.ListContainerInstancesInput) (*ecs.ListContainerInstancesOutput, error)
	DescribeContainerInstancesFunc  func(context.Context, *ecs.DescribeContainerInstancesInput) (*ecs.DescribeContainerInstancesOutput, error)
	DeregisterContainerInstanceFunc func(context.Context, *ecs.DeregisterContainerInstanceInput) (*ecs.DeregisterContainerInstanceOutput, error)
	RegisterTaskDefinitionFunc      func(context.Context, *ecs.RegisterTaskDefinitionInput) (*ecs.RegisterTaskDefinitionOutput, error)
	DeregisterTaskDefinitionFunc    func(context.Context, *ecs.DeregisterTaskDefinitionInput) (*ecs.DeregisterTaskDefinitionOutput, error)
	ListTaskDefinitionsFunc         func(context.Context, *ecs.ListTaskDefinitionsInput) (*ecs.ListTaskDefinitionsOutput, error)
	RunTaskFunc                     func(context.Context, *ecs.RunTaskInput) (*ecs.RunTaskOutput, error)
	StopTaskFunc                    func(context.Context, *ecs.StopTaskInput) (*ecs.StopTaskOutput, error)
	DescribeTasksFunc               func(context.Context, *ecs.DescribeTasksInput) (*ecs.DescribeTasksOutput, error)
	ListTasksFunc                   func(context.Context, *ecs.ListTasksInput) (*ecs.ListTasksOutput, error)
}

var (
	_ awsgate.ClusterAPI = (*fakeECS)(nil)
	_ awsgate.TaskAPI    = (*fakeECS)(nil)
)

func call[In, Out any](f func(context.Context, In) (Out, error), ctx context.Context, in In) (Out, error) {
	if f == nil {
		var zero Out
		return zero, errUnexpected
	}
	return f(ctx, in)
}

func (f *fakeECS) CreateCluster(ctx context.Context, in *ecs.CreateClusterInput, _ ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error) {
	return call(f.CreateClusterFunc, ctx, in)
}

func (f *fakeECS) DeleteCluster(ctx context.Context, in *ecs.DeleteClusterInput, _ ...func(*ecs.Options)) (*ecs.DeleteClusterOutput, error) {
	return call(f.DeleteClusterFunc, ctx, in)
}

func (f *fakeECS) ListContainerInstances(ctx context.Context, in *ecs.ListContainerInstancesInput, _ ...func(*ecs.Options)) (*ecs.ListContainerInstancesOutput, error) {
	return call(f.ListContainerInstancesFunc, ctx, in)
}

func (f *fakeECS) DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, _ ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error) {
	return call(f.DescribeContainerInstancesFunc, ctx, in)
}

func (f *fakeECS) DeregisterContainerInstance(ctx context.Context, in *ecs.DeregisterContainerInstanceInput, _ ...func(*ecs.Options)) (*ecs.DeregisterContainerInstanceOutput, error) {
	return call(f.DeregisterContainerInstanceFunc, ctx, in)
}

func (f *fakeECS) RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error) {
	return call(f.RegisterTaskDefinitionFunc, ctx, in)
}

func (f *fakeECS) DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error) {
	return call(f.DeregisterTaskDefinitionFunc, ctx, in)
}

func (f *fakeECS) ListTaskDefinitions(ctx context.Context, in *ecs.ListTaskDefinitionsInput, _ ...func(*ecs.Options)) (*ecs.ListTaskDefinitionsOutput, error) {
	return call(f.ListTaskDefinitionsFunc, ctx, in)
}

func (f *fakeECS) RunTask(ctx context.Context, in *ecs.RunTaskInput, _ ...func(*ecs.Options)) (*ecs.RunTaskOutput, error) {
	return call(f.RunTaskFunc, ctx, in)
}

func (f *fakeECS) StopTask(ctx context.Context, in *ecs.StopTaskInput, _ ...func(*ecs.Options)) (*ecs.StopTaskOutput, error) {
	return call(f.StopTaskFunc, ctx, in)
}

func (f *fakeECS) DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	return call(f.DescribeTasksFunc, ctx, in)
}

func (f *fakeECS) ListTasks(ctx context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	return call(f.ListTasksFunc, ctx, in)
}

type fakeIAM struct {
	GetRoleFunc                 func(context.Context, *iam.GetRoleInput) (*iam.GetRoleOutput, error)
	CreateServiceLinkedRoleFunc func(context.Context, *iam.CreateServiceLinkedRoleInput) (*iam.CreateServiceLinkedRoleOutput, error)
}

var _ awsgate.RoleAPI = (*fakeIAM)(nil)

func (f *fakeIAM) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return call(f.GetRoleFunc, ctx, in)
}

func (f *fakeIAM) CreateServiceLinkedRole(ctx context.Context, in *iam.CreateServiceLinkedRoleInput, _ ...func(*iam.Options)) (*iam.CreateServiceLinkedRoleOutput, error) {
	return call(f.CreateServiceLinkedRoleFunc, ctx, in)
}

// roleExists is an account whose ECS service-linked role exists.
func roleExists() *fakeIAM {
	return &fakeIAM{GetRoleFunc: func(context.Context, *iam.GetRoleInput) (*iam.GetRoleOutput, error) {
		return &iam.GetRoleOutput{}, nil
	}}
}

type fakeNetwork struct {
	DescribeSubnetsFunc      func(context.Context, *ec2.DescribeSubnetsInput) (*ec2.DescribeSubnetsOutput, error)
	DescribeRouteTablesFunc  func(context.Context, *ec2.DescribeRouteTablesInput) (*ec2.DescribeRouteTablesOutput, error)
	DescribeVpcEndpointsFunc func(context.Context, *ec2.DescribeVpcEndpointsInput) (*ec2.DescribeVpcEndpointsOutput, error)
}

var _ awsgate.NetworkAPI = (*fakeNetwork)(nil)

func (f *fakeNetwork) DescribeSubnets(ctx context.Context, in *ec2.DescribeSubnetsInput, _ ...func(*ec2.Options)) (*ec2.DescribeSubnetsOutput, error) {
	return call(f.DescribeSubnetsFunc, ctx, in)
}

func (f *fakeNetwork) DescribeRouteTables(ctx context.Context, in *ec2.DescribeRouteTablesInput, _ ...func(*ec2.Options)) (*ec2.DescribeRouteTablesOutput, error) {
	return call(f.DescribeRouteTablesFunc, ctx, in)
}

func (f *fakeNetwork) DescribeVpcEndpoints(ctx context.Context, in *ec2.DescribeVpcEndpointsInput, _ ...func(*ec2.Options)) (*ec2.DescribeVpcEndpointsOutput, error) {
	return call(f.DescribeVpcEndpointsFunc, ctx, in)
}

// publicSubnet is a network whose subnet is public: a default route to an
// internet gateway, and public IPs on launch.
func publicSubnet() *fakeNetwork {
	return &fakeNetwork{
		DescribeSubnetsFunc: func(context.Context, *ec2.DescribeSubnetsInput) (*ec2.DescribeSubnetsOutput, error) {
			return &ec2.DescribeSubnetsOutput{Subnets: []ec2types.Subnet{{SubnetId: aws.String(testSubnet), VpcId: aws.String("vpc-1"), MapPublicIpOnLaunch: aws.Bool(true)}}}, nil
		},
		DescribeRouteTablesFunc: func(context.Context, *ec2.DescribeRouteTablesInput) (*ec2.DescribeRouteTablesOutput, error) {
			return &ec2.DescribeRouteTablesOutput{RouteTables: []ec2types.RouteTable{{RouteTableId: aws.String("rtb-1"), Routes: []ec2types.Route{
				{DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: aws.String("igw-1"), State: ec2types.RouteStateActive},
			}}}}, nil
		},
		DescribeVpcEndpointsFunc: func(context.Context, *ec2.DescribeVpcEndpointsInput) (*ec2.DescribeVpcEndpointsOutput, error) {
			return &ec2.DescribeVpcEndpointsOutput{}, nil
		},
	}
}

func fakeOptions() awsgate.Options {
	return awsgate.Options{
		// InstanceType is given: Launch goes straight to RunInstances,
		// without DescribeImages.
		Gate:         validate.Options{ImageID: testAMI, RoleARN: testRole, ProbeImage: testProbeImg, RunID: "run-1"},
		InstanceType: "t3.small", Subnet: testSubnet, SecurityGroup: testSG, InstanceProfile: "cisecs-gate-instance",
		EC2: &fakeEC2{}, ECS: &fakeECS{}, Tasks: &fakeECS{}, SSM: &fakeSSM{}, IAM: roleExists(), Network: publicSubnet(),
	}
}

func notFoundError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: "not found"}
}
