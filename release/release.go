// Package release is the released AMI's contract, in one place: the tag
// keys a build and the release gate put on what they make (the AMI's
// provenance above all), the forms of the ids and names they take (run id,
// AMI id, region, role ARN, instance profile), and the instance types by
// architecture. Everything that spells one of these imports it from here:
// the image definitions, the template, the IAM policies, the gate, the
// janitors and the AWS emulator.
//
// It is a leaf: it imports neither the AWS SDK nor the rest of the project.
package release

import "regexp"

// Tags a build puts on the AMI and its snapshots (the template's tags, from
// the end of the build on): its provenance.
const (
	// TagSourceAMI holds the id of the base AMI the image was built from.
	TagSourceAMI = "SourceAMI"
	// TagSourceAMIName holds that base AMI's name.
	TagSourceAMIName = "SourceAMIName"
	// TagImage holds the image's name. Every build puts it on everything
	// it makes (instance, volumes, network interface, key pair, security
	// group, AMI, snapshots), and the builder policy is scoped by it.
	TagImage = "cisecs:image"
	// TagDefinitionSHA256 holds the SHA-256 of the definition file; it is
	// the provenance tag a build adds last, so an AMI without it is one a
	// build never finished.
	TagDefinitionSHA256 = "cisecs:definition-sha256"
	// TagOS holds the definition's OS name.
	TagOS = "cisecs:os"
	// TagECSAgentVersion holds the pinned ECS agent version, or
	// NewestAgent.
	TagECSAgentVersion = "cisecs:ecs-agent-version"
	// TagSSMParameter holds the SSM parameter the image is published in.
	TagSSMParameter = "cisecs:ssm-parameter"
	// TagBuildStarted holds when the build started (RFC 3339, UTC, as
	// Packer's timestamp() prints it), on everything a build makes: what a
	// killed build left is found by it.
	TagBuildStarted = "cisecs:build-started-at"
)

// The build instance's instance profile.
const (
	// BuildInstanceProfile is the instance profile of the build instance,
	// and the name of its role (cisecs iam-policy build-instance), that
	// generated templates pass by default (their iam_instance_profile
	// variable).
	BuildInstanceProfile = BuildInstanceNamePrefix + "instance"
	// BuildInstanceNamePrefix starts the names of the build instance
	// profiles and roles the builder policy may pass.
	BuildInstanceNamePrefix = "cisecs-build-"
)

// NewestAgent is the TagECSAgentVersion of an image that pins no agent:
// the build installs the newest its OS offers.
const NewestAgent = "newest"

// Tags the gate puts on everything it creates.
const (
	// TagRunID holds the gate run's id (see IsRunID).
	TagRunID = "cisecs:run-id"
	// TagExpiresAt holds when the janitor may remove the resource (RFC
	// 3339, UTC).
	TagExpiresAt = "cisecs:expires-at"
)

// Tags the gate's publisher adds to the AMI it releases, next to the
// build's provenance: the only tags the validator may put on an existing
// AMI.
const (
	// TagGateRunID holds the id of the gate run that released the AMI.
	TagGateRunID = "cisecs:gate-run-id"
	// TagProvisionReportSHA256 holds the SHA-256 (hex) of the host
	// script's report of the build that made the AMI.
	TagProvisionReportSHA256 = "cisecs:provision-report-sha256"
	// TagECSAgentInstalled holds the version of the ECS agent the build
	// installed (the report's ecs_agent.version).
	TagECSAgentInstalled = "cisecs:ecs-agent-installed"
)

// The forms of ids and names: as AWS makes or allows them, in any
// partition; the run id as the gate makes it.
var (
	regionRE          = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}$`)
	imageIDRE         = regexp.MustCompile(`^ami-[0-9a-f]{8}([0-9a-f]{9})?$`)
	runIDRE           = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
	roleARNRE         = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,64}$`)
	instanceProfileRE = regexp.MustCompile(`^([A-Za-z0-9+=,.@_-]{1,128}|arn:aws[a-z-]*:iam::[0-9]{12}:instance-profile/([A-Za-z0-9+=,.@_-]+/)*[A-Za-z0-9+=,.@_-]{1,128})$`)
)

// IsRegion says whether s has the form of an AWS region name, like
// eu-west-1 or us-gov-west-1.
func IsRegion(s string) bool { return regionRE.MatchString(s) }

// IsImageID says whether s has the form of an AMI id: ami- and 8 or 17 hex
// digits.
func IsImageID(s string) bool { return imageIDRE.MatchString(s) }

// IsRunID says whether s can be a gate run's id: 1 to 64 letters, digits
// and hyphens, starting with a letter or digit. It names ECS clusters and
// task definition families (NamePrefix and the id), whose names allow no
// more.
func IsRunID(s string) bool { return runIDRE.MatchString(s) }

// IsRoleARN says whether s has the form of an IAM role's ARN.
func IsRoleARN(s string) bool { return roleARNRE.MatchString(s) }

// IsInstanceProfile says whether s has the form of an instance profile's
// name or ARN.
func IsInstanceProfile(s string) bool { return instanceProfileRE.MatchString(s) }

// Architectures are the CPU architectures an image may have.
func Architectures() []string { return []string{"x86_64", "arm64"} }

// BuildInstanceType returns the default build instance type for arch.
func BuildInstanceType(arch string) string {
	if arch == "arm64" {
		return "t4g.medium"
	}
	return "t3.medium"
}

// GateInstanceType returns the release gate's default instance type for
// arch: small, since the gate runs only its probe tasks; "" for an
// architecture it has none for (EC2 refuses to launch an AMI on an instance
// type of another architecture).
func GateInstanceType(arch string) string {
	switch arch {
	case "x86_64":
		return "t3.small"
	case "arm64":
		return "t4g.small"
	}
	return ""
}

// The ECS network modes an image can enable, each with its own path to the
// credentials endpoint; the gate probes each.
const (
	ModeAWSVPC = "awsvpc"
	ModeBridge = "bridge"
	// ModeHost is a task in the host's own network namespace: it reaches
	// the agent through ecs-init's nat OUTPUT REDIRECT, and it reaches
	// whatever the host reaches (IMDS and the instance's role included).
	ModeHost = "host"
)

// NetworkModes are the network modes, in the order the gate probes them:
// a definition's default, the host script's and the gate's.
func NetworkModes() []string { return []string{ModeAWSVPC, ModeBridge, ModeHost} }
