package iampolicy

import "github.com/cisecs/cisecs/release"

// IAM ARN patterns of the build instance's profile and its role.
const (
	buildRole    = "arn:aws:iam::*:role/" + release.BuildInstanceNamePrefix + "*"
	buildProfile = "arn:aws:iam::*:instance-profile/" + release.BuildInstanceNamePrefix + "*"
)

// BuilderPolicy returns the policy of the builder role: what a Packer
// amazon-ebs build of a "cisecs generate" template needs (Session Manager,
// the build instance profile release.BuildInstanceProfile, encrypted volumes,
// encrypt_boot's copy where per-region keys need it, copy_regions and
// sharing), and the read-only look-ups of "cisecs source".
//
// The build passes a fixed instance profile; it does not let Packer make a
// temporary one. packer-plugin-amazon v1.8.2 waits for a temporary profile
// with a RunInstances dry run of a t3.nano with no subnet, security group
// or tags (common/step_iam_instance_profile.go): that dry run is denied by
// any policy that scopes RunInstances by tag, cannot launch an arm64 base,
// fails in an account without a default VPC, and on failure leaves the
// role and profile behind (cleanup meets DeleteConflict). And CreateRole,
// PutRolePolicy and PassRole together would let the builder give an
// instance any permission.
//
// Left out of packer-plugin-amazon's documented list, because these
// templates never make Packer call them: ec2:AttachVolume, DetachVolume,
// CreateVolume, CreateSnapshot and RegisterImage (amazon-ebs makes the
// AMI with CreateImage), AuthorizeSecurityGroupIngress (with Session
// Manager Packer opens no inbound rule), GetPasswordData (Windows only),
// ModifyInstanceAttribute (ENA and SR-IOV are not set) and
// ModifySnapshotAttribute (snapshot_users and snapshot_groups are not
// set).
func BuilderPolicy() Policy {
	st := []Statement{
		{
			Sid:    "BuildDescribe",
			Effect: "Allow",
			Action: []string{
				"ec2:DescribeImageAttribute",
				"ec2:DescribeImages",
				"ec2:DescribeInstanceStatus",
				"ec2:DescribeInstanceTypeOfferings",
				"ec2:DescribeInstances",
				"ec2:DescribeKeyPairs",
				"ec2:DescribeRegions",
				"ec2:DescribeSecurityGroups",
				"ec2:DescribeSnapshots",
				"ec2:DescribeSubnets",
				"ec2:DescribeTags",
				"ec2:DescribeVolumes",
				"ec2:DescribeVpcs",
			},
			Resource: []string{"*"},
			Why:      "EC2's Describe actions have no resource-level permissions (Resource must be *) and change nothing: the base AMI look-up, the waiters, the network checks, cisecs janitor --builds",
		},
		{
			Sid:       "BuildLaunchTagged",
			Effect:    "Allow",
			Action:    []string{"ec2:RunInstances"},
			Resource:  []string{ec2Instance, ec2NetworkInterface, ec2Volume},
			Condition: requestTag(release.TagImage),
			Why:       "the build instance, its volumes and its network interface are created with the run tags",
		},
		{
			Sid:       "BuildLaunchWithItsGroupAndKey",
			Effect:    "Allow",
			Action:    []string{"ec2:RunInstances"},
			Resource:  []string{ec2KeyPair, ec2SecurityGroup},
			Condition: resourceTag(release.TagImage),
			Why:       "the instance uses the temporary security group and key pair the build created, tagged",
		},
		{
			Sid:      "BuildLaunchFromBaseIntoSubnet",
			Effect:   "Allow",
			Action:   []string{"ec2:RunInstances"},
			Resource: []string{ec2Image, ec2Subnet},
			Why:      "no tag condition possible: the base AMI is AWS Marketplace's and the subnet is yours, neither carries a cisecs tag; nothing is created or changed on them",
		},
		{
			Sid:       "BuildCreateGroupAndKey",
			Effect:    "Allow",
			Action:    []string{"ec2:CreateKeyPair", "ec2:CreateSecurityGroup"},
			Resource:  []string{ec2KeyPair, ec2SecurityGroup},
			Condition: requestTag(release.TagImage),
			Why:       "the temporary key pair and security group are created with the run tags",
		},
		{
			Sid:      "BuildCreateGroupInVPC",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateSecurityGroup"},
			Resource: []string{ec2VPC},
			Why:      "no tag condition possible: CreateSecurityGroup is also authorized on the VPC, which exists before the build and is not changed",
		},
		{
			Sid:       "BuildCreateImage",
			Effect:    "Allow",
			Action:    []string{"ec2:CreateImage"},
			Resource:  []string{ec2Image, ec2Snapshot},
			Condition: requestTag(release.TagImage),
			Why:       "the AMI and its snapshots are created with the run tags",
		},
		{
			Sid:       "BuildCreateImageOfItsInstance",
			Effect:    "Allow",
			Action:    []string{"ec2:CreateImage"},
			Resource:  []string{ec2Instance},
			Condition: resourceTag(release.TagImage),
			Why:       "only the build's own instance is imaged",
		},
		{
			Sid:      "BuildCopyImage",
			Effect:   "Allow",
			Action:   []string{"ec2:CopyImage"},
			Resource: []string{ec2Image, ec2Snapshot},
			Why:      "no tag condition possible: Packer copies with CopyImageTags, so the copy takes the source AMI's tags without a request tag to test; it creates (encrypt_boot's encrypted copy, copy_regions), it deletes nothing",
		},
		{
			Sid:      "BuildTagOnCreate",
			Effect:   "Allow",
			Action:   []string{"ec2:CreateTags"},
			Resource: []string{ec2Image, ec2Instance, ec2KeyPair, ec2NetworkInterface, ec2SecurityGroup, ec2Snapshot, ec2Volume},
			Condition: map[string]map[string][]string{"StringEquals": {"ec2:CreateAction": {
				"CopyImage", "CreateImage", "CreateKeyPair", "CreateSecurityGroup", "RunInstances",
			}}},
			Why: "tags given when a resource is created; no existing resource can be tagged this way",
		},
		{
			Sid:       "BuildTagItsImages",
			Effect:    "Allow",
			Action:    []string{"ec2:CreateTags"},
			Resource:  []string{ec2Image, ec2Snapshot},
			Condition: requestTag(release.TagImage),
			Why:       "the provenance tags on the finished AMI and its snapshots, added after they exist; they include cisecs:image",
		},
		{
			Sid:       "BuildStopAndTerminateItsInstance",
			Effect:    "Allow",
			Action:    []string{"ec2:StopInstances", "ec2:TerminateInstances"},
			Resource:  []string{ec2Instance},
			Condition: resourceTag(release.TagImage),
			Why:       "only the build's own instance",
		},
		{
			Sid:       "BuildDeleteItsTemporaryResources",
			Effect:    "Allow",
			Action:    []string{"ec2:DeleteKeyPair", "ec2:DeleteSecurityGroup", "ec2:DeleteVolume"},
			Resource:  []string{ec2KeyPair, ec2SecurityGroup, ec2Volume},
			Condition: resourceTag(release.TagImage),
			Why:       "the temporary key pair and security group, and volumes left after the instance",
		},
		{
			Sid:      "BuildDeleteItsUnfinishedImages",
			Effect:   "Allow",
			Action:   []string{"ec2:DeleteSnapshot", "ec2:DeregisterImage"},
			Resource: []string{ec2Image, ec2Snapshot},
			Condition: map[string]map[string][]string{"Null": {
				"aws:ResourceTag/" + release.TagImage:            {"false"},
				"aws:ResourceTag/" + release.TagDefinitionSHA256: {"true"},
			}},
			Why: "the intermediate AMI encrypt_boot discards, and an AMI a failed build leaves, with their snapshots: tagged cisecs:image but not yet with the provenance a finished AMI has, so a released AMI cannot be deleted",
		},
		{
			Sid:       "BuildShareItsImages",
			Effect:    "Allow",
			Action:    []string{"ec2:ModifyImageAttribute"},
			Resource:  []string{ec2Image},
			Condition: resourceTag(release.TagImage),
			Why:       "description, IMDSv2 and the share's launch permissions on the build's own AMIs",
		},
		{
			Sid:       "BuildSessionToItsInstance",
			Effect:    "Allow",
			Action:    []string{"ssm:StartSession"},
			Resource:  []string{ec2Instance},
			Condition: ssmResourceTag(release.TagImage),
			Why:       "Packer's Session Manager tunnel, only to the build's own instance",
		},
		{
			Sid:      "BuildSessionDocument",
			Effect:   "Allow",
			Action:   []string{"ssm:StartSession"},
			Resource: []string{"arn:aws:ssm:*::document/AWS-StartPortForwardingSession"},
			Why:      "no tag condition possible: the port forwarding document is AWS's; it is named instead",
		},
		{
			Sid:      "BuildEndItsSessions",
			Effect:   "Allow",
			Action:   []string{"ssm:ResumeSession", "ssm:TerminateSession"},
			Resource: []string{"arn:aws:ssm:*:*:session/*"},
			Condition: map[string]map[string][]string{"StringLike": {
				"ssm:resourceTag/aws:ssmmessages:session-id": {"${aws:userid}"},
			}},
			Why: "only the sessions this role started (Session Manager's key for the caller's sessions, for assumed roles)",
		},
		{
			Sid:      "BuildInstanceProfileRead",
			Effect:   "Allow",
			Action:   []string{"iam:GetInstanceProfile"},
			Resource: []string{buildProfile},
			Why:      "reads only: Packer checks that the build instance profile (" + release.BuildInstanceNamePrefix + "*) exists before it launches",
		},
		{
			Sid:       "BuildInstanceProfilePass",
			Effect:    "Allow",
			Action:    []string{"iam:PassRole"},
			Resource:  []string{buildRole},
			Condition: map[string]map[string][]string{"StringEquals": {"iam:PassedToService": {"ec2.amazonaws.com"}}},
			Why:       "the build instance profile's role (" + release.BuildInstanceNamePrefix + "*, whose only permissions are Session Manager's: cisecs iam-policy build-instance), to EC2 only; no role can be created or changed",
		},
		{
			Sid:      "SourceReadReleased",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParameter"},
			Resource: []string{ssmParameters},
			Why:      "cisecs source reads the released AMI id to compare its provenance with the newest base AMI; read-only, scoped by path",
		},
		{
			Sid:      "SourceReadAgentRelease",
			Effect:   "Allow",
			Action:   []string{"ssm:GetParameter"},
			Resource: []string{ecsOptimizedParameters},
			Why:      "cisecs source reads the newest ECS agent release from the public parameters of AWS's ECS-optimized AMIs, for images that take the newest agent; read-only, AWS's own parameters under that path",
		},
	}
	return Policy{Version: Version, Statement: append(st, kmsStatements()...)}
}
