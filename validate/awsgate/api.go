package awsgate

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// The interfaces below are the operations this package calls, and nothing
// more. The SDK's clients (*ec2.Client, *ecs.Client, *ssm.Client) satisfy
// them; tests pass clients pointed at an emulator, or hand-written fakes.

// EC2API is the part of EC2 the backend uses: one instance, its life and
// death, and the architecture of its AMI.
type EC2API interface {
	ec2.DescribeInstancesAPIClient
	ec2.DescribeImagesAPIClient
	RunInstances(ctx context.Context, in *ec2.RunInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error)
	RebootInstances(ctx context.Context, in *ec2.RebootInstancesInput, optFns ...func(*ec2.Options)) (*ec2.RebootInstancesOutput, error)
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	// The awsvpc tasks' network interfaces: tagged with the run, deleted
	// if ECS leaves them behind.
	ec2.DescribeNetworkInterfacesAPIClient
	CreateTags(ctx context.Context, in *ec2.CreateTagsInput, optFns ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
	DeleteNetworkInterface(ctx context.Context, in *ec2.DeleteNetworkInterfaceInput, optFns ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
}

// ClusterAPI is the part of ECS that manages the gate's cluster and the
// instance registered in it.
type ClusterAPI interface {
	ecs.ListContainerInstancesAPIClient
	CreateCluster(ctx context.Context, in *ecs.CreateClusterInput, optFns ...func(*ecs.Options)) (*ecs.CreateClusterOutput, error)
	DeleteCluster(ctx context.Context, in *ecs.DeleteClusterInput, optFns ...func(*ecs.Options)) (*ecs.DeleteClusterOutput, error)
	DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
	DeregisterContainerInstance(ctx context.Context, in *ecs.DeregisterContainerInstanceInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterContainerInstanceOutput, error)
}

// TaskAPI is the part of ECS that registers the probe task definitions and
// runs, watches and stops the probe tasks.
type TaskAPI interface {
	ecs.DescribeTasksAPIClient
	ecs.ListTasksAPIClient
	ecs.ListTaskDefinitionsAPIClient
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	RunTask(ctx context.Context, in *ecs.RunTaskInput, optFns ...func(*ecs.Options)) (*ecs.RunTaskOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
}

// CommandAPI is the part of SSM that runs the diagnostics commands on the
// instance (Run Command).
type CommandAPI interface {
	ssm.GetCommandInvocationAPIClient
	SendCommand(ctx context.Context, in *ssm.SendCommandInput, optFns ...func(*ssm.Options)) (*ssm.SendCommandOutput, error)
}

// RoleAPI is the part of IAM the backend uses: it makes sure the ECS
// service-linked role exists before an awsvpc task needs it.
type RoleAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateServiceLinkedRole(ctx context.Context, in *iam.CreateServiceLinkedRoleInput, optFns ...func(*iam.Options)) (*iam.CreateServiceLinkedRoleOutput, error)
}

// JanitorEC2API is the part of EC2 the Janitor uses.
type JanitorEC2API interface {
	ec2.DescribeInstancesAPIClient
	ec2.DescribeNetworkInterfacesAPIClient
	TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, optFns ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error)
	DeleteNetworkInterface(ctx context.Context, in *ec2.DeleteNetworkInterfaceInput, optFns ...func(*ec2.Options)) (*ec2.DeleteNetworkInterfaceOutput, error)
}

// JanitorECSAPI is the part of ECS the Janitor uses: it finds the gate's
// clusters and task definitions by their tags and removes them.
type JanitorECSAPI interface {
	ecs.ListClustersAPIClient
	ecs.ListTasksAPIClient
	ecs.ListContainerInstancesAPIClient
	ecs.ListTaskDefinitionFamiliesAPIClient
	ecs.ListTaskDefinitionsAPIClient
	ecs.DescribeTasksAPIClient
	DescribeClusters(ctx context.Context, in *ecs.DescribeClustersInput, optFns ...func(*ecs.Options)) (*ecs.DescribeClustersOutput, error)
	DescribeContainerInstances(ctx context.Context, in *ecs.DescribeContainerInstancesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeContainerInstancesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	StopTask(ctx context.Context, in *ecs.StopTaskInput, optFns ...func(*ecs.Options)) (*ecs.StopTaskOutput, error)
	DeregisterContainerInstance(ctx context.Context, in *ecs.DeregisterContainerInstanceInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterContainerInstanceOutput, error)
	DeregisterTaskDefinition(ctx context.Context, in *ecs.DeregisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DeregisterTaskDefinitionOutput, error)
	DeleteCluster(ctx context.Context, in *ecs.DeleteClusterInput, optFns ...func(*ecs.Options)) (*ecs.DeleteClusterOutput, error)
}

// The SDK's clients satisfy every interface above.
var (
	_ EC2API        = (*ec2.Client)(nil)
	_ ClusterAPI    = (*ecs.Client)(nil)
	_ TaskAPI       = (*ecs.Client)(nil)
	_ CommandAPI    = (*ssm.Client)(nil)
	_ RoleAPI       = (*iam.Client)(nil)
	_ JanitorEC2API = (*ec2.Client)(nil)
	_ JanitorECSAPI = (*ecs.Client)(nil)
)
