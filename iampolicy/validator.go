package iampolicy

import "github.com/cisecs/cisecs/release"

// ECS ARN patterns of the gate's clusters, task definitions, tasks and
// container instances (their ARNs name the cluster).
const (
	anyCluster            = "arn:aws:ecs:*:*:cluster/*"
	gateCluster           = "arn:aws:ecs:*:*:cluster/" + GateNamePrefix + "*"
	gateTaskDefinition    = "arn:aws:ecs:*:*:task-definition/" + GateNamePrefix + "*:*"
	gateTask              = "arn:aws:ecs:*:*:task/" + GateNamePrefix + "*/*"
	gateContainerInstance = "arn:aws:ecs:*:*:container-instance/" + GateNamePrefix + "*/*"
)

// The ECS service-linked role: its ARN, and the service it is linked to.
const (
	ecsServiceLinkedRole = "arn:aws:iam::*:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
	ecsService           = "ecs.amazonaws.com"
)

// ValidatorPolicy returns the policy of the validator role: the release
// gate ("cisecs validate --backend aws": one instance from the AMI in a
// temporary ECS cluster, probe tasks, a reboot, SSM Run Command for
// diagnostics, cleanup), the publication of the AMI id to SSM Parameter
// Store with the AMI's provenance tags, and "cisecs janitor". Its actions are the methods of
// validate/awsgate's API interfaces, each under the narrowest resource and
// condition IAM evaluates for it.
//
// The roles it passes must be named cisecs-*: the role of the instance
// profile (AmazonEC2ContainerServiceforEC2Role and
// AmazonSSMManagedInstanceCore), the probes' task role and the task
// execution role. The gate creates the ECS service-linked role when the
// account lacks it (awsvpc tasks need it), and may create no other.
func ValidatorPolicy() Policy {
	st := []Statement{
		{
			Sid:    "GateDescribe",
			Effect: "Allow",
			Action: []string{
				"ec2:DescribeImages",
				"ec2:DescribeInstances",
				"ec2:DescribeNetworkInterfaces",
				"ec2:DescribeRouteTables",
				"ec2:DescribeSubnets",
				"ec2:DescribeVpcEndpoints",
				"ecs:DescribeTaskDefinition",
				"ecs:ListClusters",
				"ecs:ListTaskDefinitionFamilies",
				"ecs:ListTaskDefinitions",
				"ecs:ListTasks",
				"ssm:GetCommandInvocation",
			},
			Resource: []string{"*"},
			Why:      "reads without resource-level permissions (Resource must be *): the instance's state, the subnet's routes and its VPC's endpoints (the gate's network check before launch), the janitor's search by tag, Run Command output; SSM checks an aws:ec2:image parameter's value with ec2:DescribeImages as the caller",
		},
		{
			Sid:      "GateReadClusters",
			Effect:   "Allow",
			Action:   []string{"ecs:DescribeClusters"},
			Resource: []string{anyCluster},
			Why:      "read-only: the janitor reads every cluster's tags to find the gate's expired ones",
		},
		{
			Sid:      "GateReadItsClusters",
			Effect:   "Allow",
			Action:   []string{"ecs:DescribeContainerInstances", "ecs:DescribeTasks", "ecs:ListContainerInstances"},
			Resource: []string{gateCluster, gateContainerInstance, gateTask},
			Why:      "read-only, in the gate's clusters (cisecs-gate-*)",
		},
		{
			Sid:       "GateLaunchFromCisecsImage",
			Effect:    "Allow",
			Action:    []string{"ec2:RunInstances"},
			Resource:  []string{ec2Image},
			Condition: resourceTag(release.TagImage),
			Why:       "only AMIs a cisecs build made (they carry cisecs:image)",
		},
		{
			Sid:      "GateLaunchInto",
			Effect:   "Allow",
			Action:   []string{"ec2:RunInstances"},
			Resource: []string{ec2NetworkInterface, ec2SecurityGroup, ec2Subnet},
			Why:      "no tag condition possible: the subnet and the security group exist before the run, and the gate's RunInstances tags the instance and its volumes but not the network interface it creates",
		},
		{
			Sid:       "GateLaunchTagged",
			Effect:    "Allow",
			Action:    []string{"ec2:RunInstances"},
			Resource:  []string{ec2Instance, ec2Volume},
			Condition: requestTag(release.TagRunID),
			Why:       "the instance and its volumes are created with the run's tags",
		},
		{
			Sid:       "GateTagOnLaunch",
			Effect:    "Allow",
			Action:    []string{"ec2:CreateTags"},
			Resource:  []string{ec2Instance, ec2Volume},
			Condition: map[string]map[string][]string{"StringEquals": {"ec2:CreateAction": {"RunInstances"}}},
			Why:       "tags given at launch; no existing resource can be tagged this way",
		},
		{
			Sid:      "GateTagTaskNetworkInterfaces",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateTags"},
			Resource: []string{ec2NetworkInterface},
			Condition: map[string]map[string][]string{
				"Null": {
					"aws:RequestTag/" + release.TagRunID:  {"false"},
					"aws:ResourceTag/" + release.TagRunID: {"true"},
				},
				"ForAllValues:StringEquals": {"aws:TagKeys": {release.TagRunID, release.TagExpiresAt}},
			},
			Why: "ECS tags an awsvpc task's network interface with nothing (aws/containers-roadmap#567); the gate tags it with the run's two tags, and only an interface no run has tagged yet",
		},
		{
			Sid:       "GateDeleteTaskNetworkInterfaces",
			Effect:    "Allow",
			Action:    []string{"ec2:DeleteNetworkInterface"},
			Resource:  []string{ec2NetworkInterface},
			Condition: resourceTag(release.TagRunID),
			Why:       "only interfaces a gate run tagged: the awsvpc tasks' interfaces ECS left available (cleanup, the janitor)",
		},
		{
			Sid:       "GateRebootAndTerminate",
			Effect:    "Allow",
			Action:    []string{"ec2:RebootInstances", "ec2:TerminateInstances"},
			Resource:  []string{ec2Instance},
			Condition: resourceTag(release.TagRunID),
			Why:       "only instances a gate run launched (the gate's reboot and cleanup, the janitor)",
		},
		{
			Sid:      "GatePassRoles",
			Effect:   "Allow",
			Action:   []string{"iam:PassRole"},
			Resource: []string{"arn:aws:iam::*:role/" + RoleNamePrefix + "*"},
			Condition: map[string]map[string][]string{"StringEquals": {
				"iam:PassedToService": {"ec2.amazonaws.com", "ecs-tasks.amazonaws.com"},
			}},
			Why: "the instance profile's role to EC2, the probe task role and the execution role to ECS tasks; only roles named cisecs-*",
		},
		{
			Sid:      "GateCheckECSServiceLinkedRole",
			Effect:   "Allow",
			Action:   []string{"iam:GetRole"},
			Resource: []string{ecsServiceLinkedRole},
			Why:      "read-only: whether the ECS service-linked role exists, before the run launches anything (ECS refuses awsvpc tasks without it)",
		},
		{
			Sid:       "GateCreateECSServiceLinkedRole",
			Effect:    "Allow",
			Action:    []string{"iam:CreateServiceLinkedRole"},
			Resource:  []string{ecsServiceLinkedRole + "*"},
			Condition: map[string]map[string][]string{"StringEquals": {"iam:AWSServiceName": {ecsService}}},
			Why:       "the ECS service-linked role, once per account, when a fresh account lacks it; no other service's role, and no other role",
		},
		{
			Sid:       "GateCreateCluster",
			Effect:    "Allow",
			Action:    []string{"ecs:CreateCluster"},
			Resource:  []string{gateCluster},
			Condition: requestTag(release.TagRunID),
			Why:       "the run's cluster, cisecs-gate-RUN, created with the run's tags",
		},
		{
			Sid:       "GateRegisterTaskDefinitions",
			Effect:    "Allow",
			Action:    []string{"ecs:RegisterTaskDefinition"},
			Resource:  []string{"*"},
			Condition: requestTag(release.TagRunID),
			Why:       "RegisterTaskDefinition has no resource-level permission (Resource must be *); the request tag scopes it",
		},
		{
			Sid:      "GateRunProbes",
			Effect:   "Allow",
			Action:   []string{"ecs:RunTask"},
			Resource: []string{gateTaskDefinition},
			Condition: map[string]map[string][]string{
				"ArnLike": {"ecs:cluster": {gateCluster}},
				"Null":    {"aws:RequestTag/" + release.TagRunID: {"false"}},
			},
			Why: "the gate's task definitions, in the gate's clusters, started with the run's tags",
		},
		{
			Sid:      "GateTagOnCreate",
			Effect:   "Allow",
			Action:   []string{"ecs:TagResource"},
			Resource: []string{gateCluster, gateTask, gateTaskDefinition},
			Condition: map[string]map[string][]string{"StringEquals": {"ecs:CreateAction": {
				"CreateCluster", "RegisterTaskDefinition", "RunTask",
			}}},
			Why: "ECS authorizes tags given at creation as ecs:TagResource; no existing resource can be tagged this way",
		},
		{
			Sid:       "GateTeardown",
			Effect:    "Allow",
			Action:    []string{"ecs:DeleteCluster", "ecs:DeregisterContainerInstance", "ecs:StopTask"},
			Resource:  []string{gateCluster, gateTask},
			Condition: resourceTag(release.TagRunID),
			Why:       "only the gate's clusters and tasks, tagged by their run (the gate's cleanup, the janitor)",
		},
		{
			Sid:      "GateDeregisterTaskDefinitions",
			Effect:   "Allow",
			Action:   []string{"ecs:DeregisterTaskDefinition"},
			Resource: []string{"*"},
			Why:      "no condition possible: DeregisterTaskDefinition has no resource-level permission (Resource must be *) and no tag condition key in IAM. It only marks a revision INACTIVE (running tasks and services go on); the gate and the janitor deregister cisecs-gate-* families only",
		},
		{
			Sid:       "GateDiagnostics",
			Effect:    "Allow",
			Action:    []string{"ssm:SendCommand"},
			Resource:  []string{ec2Instance},
			Condition: ssmResourceTag(release.TagRunID),
			Why:       "Run Command diagnostics, only on the gate's instances",
		},
		{
			Sid:      "GateDiagnosticsDocument",
			Effect:   "Allow",
			Action:   []string{"ssm:SendCommand"},
			Resource: []string{"arn:aws:ssm:*::document/AWS-RunShellScript"},
			Why:      "no tag condition possible: AWS-RunShellScript is AWS's document; it is named instead",
		},
		{
			Sid:      "GateTagReleasedImage",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateTags"},
			Resource: []string{ec2Image},
			Condition: map[string]map[string][]string{
				"Null": {
					"aws:ResourceTag/" + release.TagImage: {"false"},
					"aws:TagKeys":                         {"false"},
				},
				"ForAllValues:StringEquals": {"aws:TagKeys": {release.TagGateRunID, release.TagProvisionReportSHA256, release.TagECSAgentInstalled}},
			},
			Why: "the publisher's provenance on the AMI it releases (the gate's run id, the provision report's SHA-256, the ECS agent the build installed): only AMIs a cisecs build made (they carry cisecs:image), and only those three tag keys, so the build's provenance tags cannot be overwritten",
		},
		{
			Sid:      "GatePublish",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParameter", "ssm:PutParameter"},
			Resource: []string{ssmParameters},
			Why:      "no tag condition possible: the publisher overwrites parameters without tagging them; scoped by path instead (/cisecs/*, every image's default). It reads the parameter before writing (its data type) and after (SSM checks an aws:ec2:image value after PutParameter answers, and drops it if the AMI is not available). An image whose ssm_parameter lies elsewhere needs that parameter's ARN added",
		},
	}
	return Policy{Version: Version, Statement: append(st, kmsStatements()...)}
}
