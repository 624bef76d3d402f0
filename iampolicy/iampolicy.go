// Package iampolicy holds the IAM policy documents of the two roles the
// nightly pipeline assumes: the builder's (a Packer amazon-ebs build that
// reaches its instance through SSM Session Manager with a temporary
// instance profile, plus the read-only look-ups of "cisecs source") and
// the validator's (the release gate, "cisecs validate --backend aws", its
// publication to SSM Parameter Store and "cisecs janitor").
//
// The action lists start from packer-plugin-amazon's documented minimal
// permissions (docs/builders/index.mdx: the amazon-ebs list, the temporary
// instance profile list, the KMS note) and from the calls validate/awsgate
// makes (its API interfaces), less what this project's templates never
// trigger. Every mutation and deletion is scoped by a tag wherever IAM can
// evaluate one:
//
//   - the gate tags what it creates with cisecs:run-id (and
//     cisecs:expires-at): creating requires aws:RequestTag/cisecs:run-id,
//     changing or deleting requires aws:ResourceTag/cisecs:run-id; the
//     network interface ECS creates for an awsvpc task, which ECS does not
//     tag, the gate tags itself, and only while no run's tag is on it;
//   - Packer tags what it creates with the template's run tags, which hold
//     cisecs:image: likewise with cisecs:image;
//   - the gate's publisher tags the AMI it releases with its provenance:
//     only AMIs that carry cisecs:image, and only its own three tag keys
//     (aws:TagKeys), so the build's provenance cannot be overwritten.
//
// Where IAM cannot evaluate a tag the statement says why (Statement.Why):
// actions without resource-level permissions (Describe*, List*,
// ecs:RegisterTaskDefinition, ecs:DeregisterTaskDefinition,
// ssm:GetCommandInvocation), resources that exist before the run (the
// subnet, the security group, the base AMI, the SSM document), and
// resources created untagged (the gate's network interface, CopyImage's
// copy). Those are scoped by name or ARN pattern instead where one exists.
//
// The documents are Go values, not a template: encoding/json makes them
// valid JSON with keys in a fixed order, so the output is deterministic.
package iampolicy

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Version is the IAM policy language version of every document.
const Version = "2012-10-17"

// Names the resources are scoped by.
const (
	// GateNamePrefix starts the gate's cluster names and task definition
	// families (awsgate.NamePrefix).
	GateNamePrefix = "cisecs-gate-"
	// RoleNamePrefix starts the names of the roles the gate passes: the
	// instance profile's role, the probe task role and the task execution
	// role must be named cisecs-*.
	RoleNamePrefix = "cisecs-"
	// ParameterPath is where images publish their AMI ids by default
	// (images.DefaultSSMParameter): /cisecs/NAME/ami-id.
	ParameterPath = "/cisecs/"
)

// Policy is an IAM policy document.
type Policy struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Policy. Action and Resource are always
// lists; Condition maps an operator to its keys and their values.
type Statement struct {
	Sid       string                         `json:"Sid"`
	Effect    string                         `json:"Effect"`
	Action    []string                       `json:"Action"`
	Resource  []string                       `json:"Resource"`
	Condition map[string]map[string][]string `json:"Condition,omitempty"`
	// Why says what the statement is for and, when it has no condition on
	// a tag, why IAM cannot evaluate one there. It is not part of the
	// document.
	Why string `json:"-"`
}

// JSON returns p as indented JSON, ending in a newline. Map keys are
// sorted, so the same policy gives the same bytes.
func (p Policy) JSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(p); err != nil {
		return nil, fmt.Errorf("encode policy: %w", err)
	}
	return b.Bytes(), nil
}

// Role names a role whose policy this package holds.
type Role string

// The roles.
const (
	// Builder is the role of the source and build jobs.
	Builder Role = "builder"
	// Validator is the role of the validate job (gate, publication,
	// janitor).
	Validator Role = "validator"
	// BuildInstance is the role of the build instance's profile
	// (BuildInstanceProfile), which the builder passes to EC2.
	BuildInstance Role = "build-instance"
)

// Roles returns the roles, in name order.
func Roles() []Role { return []Role{BuildInstance, Builder, Validator} }

// For returns the policy of role.
func For(role Role) (Policy, error) {
	switch role {
	case Builder:
		return BuilderPolicy(), nil
	case Validator:
		return ValidatorPolicy(), nil
	case BuildInstance:
		return BuildInstancePolicy(), nil
	}
	return Policy{}, fmt.Errorf("role %q: want %s, %s or %s", role, Builder, Validator, BuildInstance)
}

// BuildInstancePolicy returns the policy of the build instance's role:
// what the SSM agent needs to register the instance and carry Packer's
// Session Manager tunnel, and nothing else (a subset of AWS's
// AmazonSSMManagedInstanceCore). The role trusts ec2.amazonaws.com, and
// its instance profile has its name, BuildInstanceProfile.
func BuildInstancePolicy() Policy {
	return Policy{Version: Version, Statement: []Statement{{
		Sid:    "SessionManagerTunnel",
		Effect: "Allow",
		Action: []string{
			"ssm:UpdateInstanceInformation",
			"ssmmessages:CreateControlChannel",
			"ssmmessages:CreateDataChannel",
			"ssmmessages:OpenControlChannel",
			"ssmmessages:OpenDataChannel",
		},
		Resource: []string{"*"},
		Why:      "the SSM agent registers the build instance and opens Session Manager's channels, which carry Packer's SSH; the ssmmessages actions have no resource types, so Resource must be *",
	}}}
}

// ARN patterns, any region and account in the aws partition.
const (
	ec2Instance         = "arn:aws:ec2:*:*:instance/*"
	ec2Volume           = "arn:aws:ec2:*:*:volume/*"
	ec2NetworkInterface = "arn:aws:ec2:*:*:network-interface/*"
	ec2SecurityGroup    = "arn:aws:ec2:*:*:security-group/*"
	ec2KeyPair          = "arn:aws:ec2:*:*:key-pair/*"
	ec2Subnet           = "arn:aws:ec2:*:*:subnet/*"
	ec2VPC              = "arn:aws:ec2:*:*:vpc/*"
	ec2Image            = "arn:aws:ec2:*::image/*"
	ec2Snapshot         = "arn:aws:ec2:*::snapshot/*"
	kmsKey              = "arn:aws:kms:*:*:key/*"
	ssmParameters       = "arn:aws:ssm:*:*:parameter" + ParameterPath + "*"
	// ecsOptimizedParameters are AWS's public parameters of its
	// ECS-optimized AMIs (their ARNs have no account).
	ecsOptimizedParameters = "arn:aws:ssm:*::parameter/aws/service/ecs/optimized-ami/*"
)

// requestTag requires the request to set tag: the resource is created
// with it.
func requestTag(tag string) map[string]map[string][]string {
	return map[string]map[string][]string{"Null": {"aws:RequestTag/" + tag: {"false"}}}
}

// resourceTag requires the resource to carry tag.
func resourceTag(tag string) map[string]map[string][]string {
	return map[string]map[string][]string{"Null": {"aws:ResourceTag/" + tag: {"false"}}}
}

// ssmResourceTag requires the instance an SSM action targets to carry tag
// (Systems Manager's own key for instance tags).
func ssmResourceTag(tag string) map[string]map[string][]string {
	return map[string]map[string][]string{"Null": {"ssm:resourceTag/" + tag: {"false"}}}
}

// kmsViaEC2 allows a KMS key only when EC2 uses it on the caller's
// behalf (EBS encryption), in any region.
func kmsViaEC2() map[string]map[string][]string {
	return map[string]map[string][]string{"StringLike": {"kms:ViaService": {"ec2.*.amazonaws.com"}}}
}

// kmsStatements let EC2 use customer managed keys for the volumes, the
// snapshots and the AMI copies. The AWS managed key aws/ebs needs none of
// them: its key policy grants its use through EC2 to the whole account.
func kmsStatements() []Statement {
	return []Statement{
		{
			Sid:    "EncryptedVolumesThroughEC2",
			Effect: "Allow",
			Action: []string{
				"kms:Decrypt",
				"kms:DescribeKey",
				"kms:Encrypt",
				"kms:GenerateDataKeyWithoutPlaintext",
				"kms:ReEncryptFrom",
				"kms:ReEncryptTo",
			},
			Resource:  []string{kmsKey},
			Condition: kmsViaEC2(),
			Why:       "customer managed keys of encrypted volumes and snapshots, only through EC2 (kms:ViaService); keys carry no cisecs tag to test",
		},
		{
			Sid:      "EncryptedVolumesGrantsForEC2",
			Effect:   "Allow",
			Action:   []string{"kms:CreateGrant"},
			Resource: []string{kmsKey},
			Condition: map[string]map[string][]string{
				"Bool":       {"kms:GrantIsForAWSResource": {"true"}},
				"StringLike": {"kms:ViaService": {"ec2.*.amazonaws.com"}},
			},
			Why: "EC2 holds a grant on the key while an encrypted volume is attached; only grants for AWS resources, through EC2",
		},
	}
}
