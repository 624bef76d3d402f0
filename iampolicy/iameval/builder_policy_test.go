package iameval

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/iampolicy"
)

// The tags of a "cisecs generate" template: run_tags and run_volume_tags
// (the build instance, its volumes and network interface, the temporary
// key pair and security group, and, as Packer's run tags, the AMI and
// snapshots CreateImage makes), then tags and snapshot_tags (the finished
// AMI and its snapshots, with the provenance).
var (
	buildRunTags = map[string]string{"cisecs:image": "al2023-cis-level1", "Name": "cisecs build cisecs-al2023-cis-level1-20261207"}
	buildAMITags = map[string]string{"cisecs:image": "al2023-cis-level1", "Name": "cisecs-al2023-cis-level1-20261207",
		"cisecs:definition-sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "SourceAMI": "ami-0base"}
)

// tagParams are EC2 query parameters that tag resource types rts with
// tags, from TagSpecification.n on.
func tagParams(n int, tags map[string]string, rts ...string) []string {
	var out []string
	for i, rt := range rts {
		p := fmt.Sprintf("TagSpecification.%d.", n+i)
		out = append(out, p+"ResourceType", rt)
		for j, k := range slices.Sorted(maps.Keys(tags)) {
			out = append(out, fmt.Sprintf("%sTag.%d.Key", p, j+1), k, fmt.Sprintf("%sTag.%d.Value", p, j+1), tags[k])
		}
	}
	return out
}

// plainTags are EC2 CreateTags's Tag.N parameters.
func plainTags(tags map[string]string) []string {
	var out []string
	for j, k := range slices.Sorted(maps.Keys(tags)) {
		out = append(out, fmt.Sprintf("Tag.%d.Key", j+1), k, fmt.Sprintf("Tag.%d.Value", j+1), tags[k])
	}
	return out
}

// buildStep is one call of a Packer build and what it changes in the
// account once answered.
type buildStep struct {
	req   Request
	after func(*fakeState)
}

// packerBuild is what packer-plugin-amazon v1.8.2's amazon-ebs builder
// calls for a "cisecs generate" template given iam_instance_profile
// (cisecs-build-instance, a fixed profile: no temporary one), a subnet,
// encrypt_boot with the aws/ebs key, one copy region and one account to
// share with: common/step_pre_validate.go, step_source_ami_info.go,
// step_network_info.go, step_key_pair.go, step_security_group.go,
// step_iam_instance_profile.go, step_run_source_instance.go,
// step_create_ssm_tunnel.go and ssm/session.go,
// step_stop_ebs_instance.go, builder/ebs/step_create_ami.go,
// step_ami_region_copy.go, step_modify_ami_attributes.go,
// step_create_tags.go, then the cleanups in reverse.
func packerBuild() []buildStep {
	const (
		build, copyRegion = "eu-west-1", "us-west-2"
		key, group        = "packer_6571a3c0", "sg-0packer"
		instance          = "i-0build"
		interm, intermSn  = "ami-0interm", "snap-0interm"
		final, finalSn    = "ami-0final", "snap-0final"
		copied, copiedSn  = "ami-0copy", "snap-0copy"
	)
	caller := map[string][]string{"aws:userid": {"AROABUILDER:cisecs-build"}}
	at := func(region, svc, op string, kv ...string) Request {
		r := ec2Req(op, kv...)
		r.Service, r.Region, r.Caller = svc, region, caller
		return r
	}
	ec2 := func(op string, kv ...string) Request { return at(build, "ec2", op, kv...) }
	ssm := func(op string, j map[string]any) Request {
		return Request{Service: "ssm", Operation: op, Region: build, Account: account, JSON: j, Caller: caller}
	}
	tag := func(region, kind, id string, tags map[string]string) func(*fakeState) {
		account := account
		if kind == "image" || kind == "snapshot" {
			account = ""
		}
		arn := fmt.Sprintf("arn:aws:ec2:%s:%s:%s/%s", region, account, kind, id)
		return func(f *fakeState) {
			if f.tags[arn] == nil {
				f.tags[arn] = map[string]string{}
			}
			maps.Copy(f.tags[arn], tags)
		}
	}
	both := func(fs ...func(*fakeState)) func(*fakeState) {
		return func(f *fakeState) {
			for _, fn := range fs {
				fn(f)
			}
		}
	}
	return []buildStep{
		{req: at(build, "sts", "GetCallerIdentity")},
		{req: ec2("DescribeRegions")},
		{req: ec2("DescribeImages", "Filter.1.Name", "name", "Filter.1.Value.1", "CIS Amazon Linux 2023*")},
		{req: ec2("DescribeImages", "Filter.1.Name", "name", "Filter.1.Value.1", "cisecs-al2023-cis-level1-20261207")},
		{req: ec2("DescribeSubnets", "SubnetId.1", "subnet-0a")},
		{req: ec2("DescribeVpcs", "VpcId.1", "vpc-0a")},
		{req: ec2("DescribeInstanceTypeOfferings")},
		{req: ec2("CreateKeyPair", slices.Concat([]string{"KeyName", key, "KeyType", "rsa"}, tagParams(1, buildRunTags, "key-pair"))...),
			after: tag(build, "key-pair", key, buildRunTags)},
		{req: ec2("CreateSecurityGroup", slices.Concat([]string{"GroupName", "packer_6571a3c1", "GroupDescription", "Temporary group for Packer", "VpcId", "vpc-0a"},
			tagParams(1, buildRunTags, "security-group"))...),
			after: tag(build, "security-group", group, buildRunTags)},
		{req: ec2("DescribeSecurityGroups", "GroupId.1", group)},
		{req: at(build, "iam", "GetInstanceProfile", "InstanceProfileName", "cisecs-build-instance")},
		{req: ec2("RunInstances", slices.Concat([]string{
			"ImageId", "ami-0base", "InstanceType", "t3.small", "MinCount", "1", "MaxCount", "1", "UserData", "IyEvYmluL3No",
			"IamInstanceProfile.Name", "cisecs-build-instance", "KeyName", key, "SubnetId", "subnet-0a", "SecurityGroupId.1", group,
			"MetadataOptions.HttpEndpoint", "enabled", "MetadataOptions.HttpTokens", "required", "MetadataOptions.HttpPutResponseHopLimit", "1",
			"BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.VolumeSize", "20", "BlockDeviceMapping.1.Ebs.VolumeType", "gp3",
			"BlockDeviceMapping.1.Ebs.Encrypted", "true", "BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true",
		}, tagParams(1, buildRunTags, "instance", "network-interface"), tagParams(3, buildRunTags, "volume"))...),
			after: tag(build, "instance", instance, buildRunTags)},
		{req: ec2("DescribeInstances", "InstanceId.1", instance)},
		{req: ssm("StartSession", map[string]any{"Target": instance, "DocumentName": "AWS-StartPortForwardingSession",
			"Parameters": map[string]any{"portNumber": []any{"22"}, "localPortNumber": []any{"8122"}}}),
			after: func(f *fakeState) {
				f.tags["arn:aws:ssm:eu-west-1:"+account+":session/cisecs-build-0a1b2c3d"] = map[string]string{"aws:ssmmessages:session-id": "AROABUILDER:cisecs-build"}
			}},
		// The provisioner runs through the tunnel: no AWS call.
		{req: ssm("TerminateSession", map[string]any{"SessionId": "cisecs-build-0a1b2c3d"})},
		{req: ec2("StopInstances", "InstanceId.1", instance)},
		{req: ec2("DescribeInstances", "InstanceId.1", instance)},
		{req: ec2("CreateImage", slices.Concat([]string{"InstanceId", instance, "Name", "cisecs-al2023-cis-level1-20261207",
			"BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.Encrypted", "true"},
			tagParams(1, buildRunTags, "image", "snapshot"))...),
			after: both(tag(build, "image", interm, buildRunTags), tag(build, "snapshot", intermSn, buildRunTags))},
		{req: ec2("DescribeImages", "ImageId.1", interm)},
		// encrypt_boot: an encrypted copy with the intermediate's tags.
		{req: ec2("CopyImage", "SourceImageId", interm, "SourceRegion", build, "Name", "cisecs-al2023-cis-level1-20261207",
			"Encrypted", "true", "CopyImageTags", "true"),
			after: both(tag(build, "image", final, buildRunTags), tag(build, "snapshot", finalSn, buildRunTags))},
		{req: ec2("DescribeImages", "ImageId.1", final)},
		{req: ec2("DeregisterImage", "ImageId", interm)},
		{req: ec2("DeleteSnapshot", "SnapshotId", intermSn)},
		// ami_regions.
		{req: at(copyRegion, "ec2", "CopyImage", "SourceImageId", final, "SourceRegion", build, "Name", "cisecs-al2023-cis-level1-20261207",
			"Encrypted", "true", "CopyImageTags", "true"),
			after: both(tag(copyRegion, "image", copied, buildRunTags), tag(copyRegion, "snapshot", copiedSn, buildRunTags))},
		{req: at(copyRegion, "ec2", "DescribeImages", "ImageId.1", copied)},
		// ami_description and ami_users, in both regions.
		{req: ec2("ModifyImageAttribute", "ImageId", final, "Description.Value", "CIS AL2023 for ECS")},
		{req: ec2("ModifyImageAttribute", "ImageId", final, "LaunchPermission.Add.1.UserId", "444455556666")},
		{req: at(copyRegion, "ec2", "ModifyImageAttribute", "ImageId", copied, "Description.Value", "CIS AL2023 for ECS")},
		{req: at(copyRegion, "ec2", "ModifyImageAttribute", "ImageId", copied, "LaunchPermission.Add.1.UserId", "444455556666")},
		// tags and snapshot_tags, in both regions.
		{req: ec2("DescribeImages", "ImageId.1", final)},
		{req: ec2("CreateTags", slices.Concat([]string{"ResourceId.1", final}, plainTags(buildAMITags))...), after: tag(build, "image", final, buildAMITags)},
		{req: ec2("CreateTags", slices.Concat([]string{"ResourceId.1", finalSn}, plainTags(buildAMITags))...), after: tag(build, "snapshot", finalSn, buildAMITags)},
		{req: at(copyRegion, "ec2", "DescribeImages", "ImageId.1", copied)},
		{req: at(copyRegion, "ec2", "CreateTags", slices.Concat([]string{"ResourceId.1", copied}, plainTags(buildAMITags))...), after: tag(copyRegion, "image", copied, buildAMITags)},
		{req: at(copyRegion, "ec2", "CreateTags", slices.Concat([]string{"ResourceId.1", copiedSn}, plainTags(buildAMITags))...), after: tag(copyRegion, "snapshot", copiedSn, buildAMITags)},
		// Cleanup.
		{req: ec2("TerminateInstances", "InstanceId.1", instance)},
		{req: ec2("DescribeInstances", "InstanceId.1", instance)},
		{req: ec2("DescribeVolumes", "Filter.1.Name", "attachment.instance-id", "Filter.1.Value.1", instance)},
		{req: ec2("DeleteSecurityGroup", "GroupId", group)},
		{req: ec2("DeleteKeyPair", "KeyName", key)},
	}
}

// TestBuilderPolicyAllowsPackerBuild: every check IAM makes for the calls
// of a Packer amazon-ebs build with a fixed instance profile, with the
// account as it stands at each call, is allowed by the builder policy
// with none known denied.
func TestBuilderPolicyAllowsPackerBuild(t *testing.T) {
	st := testState()
	st.profiles = map[string]string{"cisecs-build-instance": "arn:aws:iam::" + account + ":role/cisecs-build-instance"}
	st.tags = map[string]map[string]string{}
	if n := checkBuild(t, st, packerBuild(), nil); n < 40 {
		t.Errorf("only %d checks for a whole build: the build is not all there", n)
	}
}

// checkBuild expands and evaluates steps against the builder policy, in
// order, applying each step's change after it. A denied check not in
// known fails t, as does a check in known that is allowed or never made.
// It returns how many checks there were.
func checkBuild(t *testing.T, st *fakeState, steps []buildStep, known []string) int {
	t.Helper()
	policy := iampolicy.BuilderPolicy()
	var denied, deniedWhat []string
	n := 0
	for _, step := range steps {
		cs, err := Expand(step.req, st)
		if err != nil {
			t.Fatalf("%s:%s: %v", step.req.Service, step.req.Operation, err)
		}
		for _, c := range cs {
			n++
			d := Evaluate(policy, c)
			what := step.req.Service + ":" + step.req.Operation + ": " + c.Action + " on " + c.Resource
			switch {
			case d.Allowed && slices.Contains(known, what):
				t.Errorf("%s is allowed now (by %s): take it off the known denied", what, d.Sid)
			case !d.Allowed && !slices.Contains(known, what):
				t.Errorf("%s:%s: denied %s: %s", step.req.Service, step.req.Operation, c, d.Reason)
			case !d.Allowed:
				deniedWhat = append(deniedWhat, what)
				denied = append(denied, fmt.Sprintf("%s:%s: %s: %s", step.req.Service, step.req.Operation, c, d.Reason))
			}
		}
		if step.after != nil {
			step.after(st)
		}
	}
	for _, k := range known {
		if !slices.Contains(deniedWhat, k) {
			t.Errorf("known denied check %q never made: the build changed, update the list", k)
		}
	}
	t.Logf("%d checks; denied today (known):\n%s", n, strings.Join(denied, "\n"))
	return n
}

// TestBuilderPolicyRefusesOthers: the scoping the builder policy promises,
// checked the same way: another team's instance and AMI, an untagged
// launch, a released AMI's deletion.
func TestBuilderPolicyRefusesOthers(t *testing.T) {
	st := testState()
	st.tags = map[string]map[string]string{
		pfx + "instance/i-0other":                 {"team": "other"},
		"arn:aws:ec2:eu-west-1::image/ami-0other": {"team": "other"},
		"arn:aws:ec2:eu-west-1::image/ami-0rel":   buildAMITags,
		pfx + "security-group/sg-0packer":         buildRunTags,
	}
	tests := []struct {
		name string
		req  Request
	}{
		{"terminate another instance", ec2Req("TerminateInstances", "InstanceId.1", "i-0other")},
		{"image another instance", ec2Req("CreateImage", slices.Concat([]string{"InstanceId", "i-0other"}, tagParams(1, buildRunTags, "image", "snapshot"))...)},
		{"launch untagged", ec2Req("RunInstances", "ImageId", "ami-0base", "SubnetId", "subnet-0a", "SecurityGroupId.1", "sg-0packer")},
		{"deregister a released AMI", ec2Req("DeregisterImage", "ImageId", "ami-0rel")},
		{"share another AMI", ec2Req("ModifyImageAttribute", "ImageId", "ami-0other")},
		{"tag another AMI", ec2Req("CreateTags", slices.Concat([]string{"ResourceId.1", "ami-0other"}, plainTags(map[string]string{"team": "mine"}))...)},
		{"session to another instance", Request{Service: "ssm", Operation: "StartSession", Region: region, Account: account,
			JSON: map[string]any{"Target": "i-0other", "DocumentName": "AWS-StartPortForwardingSession"}}},
		{"create a role not Packer's", Request{Service: "iam", Operation: "CreateRole", Region: region, Account: account,
			Query: url.Values{"RoleName": {"admin"}, "Tags.member.1.Key": {"cisecs:image"}, "Tags.member.1.Value": {"x"}}}},
	}
	policy := iampolicy.BuilderPolicy()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := Expand(tt.req, st)
			if err != nil {
				t.Fatal(err)
			}
			var refused bool
			for _, c := range cs {
				if !Evaluate(policy, c).Allowed {
					refused = true
				}
			}
			if !refused {
				t.Errorf("the builder policy allows every check of %s:%s: %v", tt.req.Service, tt.req.Operation, cs)
			}
		})
	}
}

// temporaryProfileSteps are the calls packer-plugin-amazon v1.8.2 makes
// for temporary_iam_instance_profile_policy_document, when the template
// is given no iam_instance_profile (common/step_iam_instance_profile.go):
// the profile and its role, tagged with run_tags, the role's policy, the
// role in the profile, then a RunInstances DryRun (t3.nano, the source
// AMI, the profile; no subnet, security group or tags) until EC2 answers
// DryRunOperation, and the cleanup.
func temporaryProfileSteps() []buildStep {
	const name = "packer-6571a3c2-0000-4000-8000-000000000000"
	iamReq := func(op string, kv ...string) Request {
		r := ec2Req(op, kv...)
		r.Service = "iam"
		return r
	}
	var tags []string
	for j, k := range slices.Sorted(maps.Keys(buildRunTags)) {
		tags = append(tags, fmt.Sprintf("Tags.member.%d.Key", j+1), k, fmt.Sprintf("Tags.member.%d.Value", j+1), buildRunTags[k])
	}
	var steps []buildStep
	for _, r := range []Request{
		iamReq("CreateInstanceProfile", slices.Concat([]string{"InstanceProfileName", name}, tags)...),
		iamReq("GetInstanceProfile", "InstanceProfileName", name),
		iamReq("CreateRole", slices.Concat([]string{"RoleName", name, "AssumeRolePolicyDocument", "{}"}, tags)...),
		iamReq("GetRole", "RoleName", name),
		iamReq("PutRolePolicy", "RoleName", name, "PolicyName", name, "PolicyDocument", "{}"),
		iamReq("AddRoleToInstanceProfile", "RoleName", name, "InstanceProfileName", name),
		ec2Req("RunInstances", "ImageId", "ami-0base", "MinCount", "1", "MaxCount", "1", "InstanceType", "t3.nano", "DryRun", "true",
			"IamInstanceProfile.Name", name),
		iamReq("RemoveRoleFromInstanceProfile", "RoleName", name, "InstanceProfileName", name),
		iamReq("DeleteRolePolicy", "RoleName", name, "PolicyName", name),
		iamReq("DeleteRole", "RoleName", name),
		iamReq("DeleteInstanceProfile", "InstanceProfileName", name),
	} {
		steps = append(steps, buildStep{req: r})
	}
	// Packer's profile and role carry run_tags from their creation.
	steps[0].after = func(f *fakeState) {
		f.tags["arn:aws:iam::"+account+":instance-profile/"+name] = buildRunTags
	}
	steps[2].after = func(f *fakeState) {
		f.tags["arn:aws:iam::"+account+":role/"+name] = buildRunTags
		f.profiles[name] = "arn:aws:iam::" + account + ":role/" + name
	}
	return steps
}

// TestBuilderPolicyRefusesTemporaryProfile: the builder may create no
// role or profile, attach none and pass none but the build instance's:
// the temporary profile Packer would make (packer-UUID) is refused from
// its first call, so the builder cannot give an instance a role of its
// own making (CreateRole, PutRolePolicy and PassRole together would).
func TestBuilderPolicyRefusesTemporaryProfile(t *testing.T) {
	st := testState()
	st.profiles = map[string]string{}
	st.tags = map[string]map[string]string{}
	policy := iampolicy.BuilderPolicy()
	refused := map[string]bool{}
	for _, step := range temporaryProfileSteps() {
		cs, err := Expand(step.req, st)
		if err != nil {
			t.Fatalf("%s:%s: %v", step.req.Service, step.req.Operation, err)
		}
		for _, c := range cs {
			if !strings.HasPrefix(c.Action, "iam:") {
				continue
			}
			if d := Evaluate(policy, c); d.Allowed {
				t.Errorf("%s:%s: %s on %s is allowed (by %s)", step.req.Service, step.req.Operation, c.Action, c.Resource, d.Sid)
			} else {
				refused[c.Action] = true
			}
		}
		if step.after != nil {
			step.after(st)
		}
	}
	for _, a := range []string{"iam:CreateInstanceProfile", "iam:CreateRole", "iam:PutRolePolicy", "iam:AddRoleToInstanceProfile", "iam:PassRole"} {
		if !refused[a] {
			t.Errorf("%s never checked: the temporary profile's calls are not all there", a)
		}
	}
}
