package iameval

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fakeState is a State from maps.
type fakeState struct {
	tags       map[string]map[string]string
	subnets    map[string]string // subnet -> vpc
	defaultVPC [2]string         // vpc, subnet; empty: none
	groups     map[string]string // vpc -> default group
	profiles   map[string]string // profile -> role ARN
	roles      map[string]string // role -> ARN
	owners     map[string]string // image -> owner
	keyPairs   map[string]string // key pair id -> name
}

var _ State = (*fakeState)(nil)

func (f *fakeState) Tags(arn string) map[string]string { return f.tags[arn] }
func (f *fakeState) SubnetVPC(s string) (string, bool) { v, ok := f.subnets[s]; return v, ok }
func (f *fakeState) DefaultVPC() (string, string, bool) {
	return f.defaultVPC[0], f.defaultVPC[1], f.defaultVPC[0] != ""
}
func (f *fakeState) DefaultSecurityGroup(vpc string) (string, bool) {
	g, ok := f.groups[vpc]
	return g, ok
}
func (f *fakeState) ProfileRole(p string) (string, bool)  { r, ok := f.profiles[p]; return r, ok }
func (f *fakeState) Role(n string) (string, bool)         { r, ok := f.roles[n]; return r, ok }
func (f *fakeState) ImageOwner(i string) (string, bool)   { o, ok := f.owners[i]; return o, ok }
func (f *fakeState) KeyPairName(id string) (string, bool) { n, ok := f.keyPairs[id]; return n, ok }

const (
	region  = "eu-west-1"
	account = "111122223333"
	pfx     = "arn:aws:ec2:eu-west-1:111122223333:"
)

func testState() *fakeState {
	return &fakeState{
		tags: map[string]map[string]string{
			"arn:aws:ec2:eu-west-1::image/ami-0base":               {"Name": "base"},
			pfx + "security-group/sg-0build":                       {"cisecs:image": "al2023"},
			pfx + "key-pair/packer_1":                              {"cisecs:image": "al2023"},
			pfx + "instance/i-0build":                              {"cisecs:image": "al2023", "Name": "build"},
			"arn:aws:ec2:eu-west-1::image/ami-0built":              {"cisecs:image": "al2023"},
			"arn:aws:ssm:eu-west-1:111122223333:session/AROAX:s-1": {"aws:ssmmessages:session-id": "AROAX:s"},
		},
		subnets:    map[string]string{"subnet-0a": "vpc-0a", "subnet-0def": "vpc-0def"},
		defaultVPC: [2]string{"vpc-0def", "subnet-0def"},
		groups:     map[string]string{"vpc-0a": "sg-0adefault", "vpc-0def": "sg-0defdefault"},
		profiles:   map[string]string{"cisecs-build-instance": "arn:aws:iam::111122223333:role/cisecs-build-instance"},
		owners:     map[string]string{"ami-0base": "aws-marketplace"},
	}
}

func ec2Req(op string, kv ...string) Request {
	q := url.Values{"Action": {op}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add(kv[i], kv[i+1])
	}
	return Request{Service: "ec2", Operation: op, Region: region, Account: account, Query: q}
}

// summary is "action resource" of each check.
func summary(cs []Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Action+" "+c.Resource)
	}
	return out
}

func TestExpandRunInstances(t *testing.T) {
	tagged := []string{
		"TagSpecification.1.ResourceType", "instance", "TagSpecification.1.Tag.1.Key", "cisecs:image", "TagSpecification.1.Tag.1.Value", "al2023",
		"TagSpecification.2.ResourceType", "volume", "TagSpecification.2.Tag.1.Key", "cisecs:image", "TagSpecification.2.Tag.1.Value", "al2023",
		"TagSpecification.3.ResourceType", "network-interface", "TagSpecification.3.Tag.1.Key", "cisecs:image", "TagSpecification.3.Tag.1.Value", "al2023",
	}
	network := []string{"SubnetId", "subnet-0a", "SecurityGroupId.1", "sg-0build", "KeyName", "packer_1"}
	base := []string{"ImageId", "ami-0base", "InstanceType", "t3.small", "MinCount", "1", "MaxCount", "1", "IamInstanceProfile.Name", "cisecs-build-instance"}
	tests := []struct {
		name   string
		params []string
		want   []string
		// tagged: the created resources carry aws:RequestTag/cisecs:image.
		tagged bool
	}{
		{
			name:   "tags and a subnet",
			params: slices.Concat(base, network, tagged),
			tagged: true,
			want: []string{
				"ec2:RunInstances arn:aws:ec2:eu-west-1::image/ami-0base",
				"ec2:RunInstances " + pfx + "instance/*",
				"ec2:CreateTags " + pfx + "instance/*",
				"ec2:RunInstances " + pfx + "volume/*",
				"ec2:CreateTags " + pfx + "volume/*",
				"ec2:RunInstances " + pfx + "network-interface/*",
				"ec2:CreateTags " + pfx + "network-interface/*",
				"ec2:RunInstances " + pfx + "security-group/sg-0build",
				"ec2:RunInstances " + pfx + "subnet/subnet-0a",
				"ec2:RunInstances " + pfx + "key-pair/packer_1",
				"iam:PassRole arn:aws:iam::111122223333:role/cisecs-build-instance",
			},
		},
		{
			name:   "no tags, no subnet: the default VPC's subnet and group",
			params: base,
			want: []string{
				"ec2:RunInstances arn:aws:ec2:eu-west-1::image/ami-0base",
				"ec2:RunInstances " + pfx + "instance/*",
				"ec2:RunInstances " + pfx + "volume/*",
				"ec2:RunInstances " + pfx + "network-interface/*",
				"ec2:RunInstances " + pfx + "security-group/sg-0defdefault",
				"ec2:RunInstances " + pfx + "subnet/subnet-0def",
				"iam:PassRole arn:aws:iam::111122223333:role/cisecs-build-instance",
			},
		},
		{
			name:   "a subnet but no group: its VPC's default group",
			params: slices.Concat(base, []string{"SubnetId", "subnet-0a", "DryRun", "true"}),
			want: []string{
				"ec2:RunInstances arn:aws:ec2:eu-west-1::image/ami-0base",
				"ec2:RunInstances " + pfx + "instance/*",
				"ec2:RunInstances " + pfx + "volume/*",
				"ec2:RunInstances " + pfx + "network-interface/*",
				"ec2:RunInstances " + pfx + "security-group/sg-0adefault",
				"ec2:RunInstances " + pfx + "subnet/subnet-0a",
				"iam:PassRole arn:aws:iam::111122223333:role/cisecs-build-instance",
			},
		},
		{
			name: "two EBS volumes",
			params: slices.Concat(base, network, []string{
				"BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.Encrypted", "true",
				"BlockDeviceMapping.2.DeviceName", "/dev/xvdb", "BlockDeviceMapping.2.Ebs.VolumeSize", "8",
				"BlockDeviceMapping.3.DeviceName", "/dev/sdc", "BlockDeviceMapping.3.VirtualName", "ephemeral0",
			}),
			want: []string{
				"ec2:RunInstances arn:aws:ec2:eu-west-1::image/ami-0base",
				"ec2:RunInstances " + pfx + "instance/*",
				"ec2:RunInstances " + pfx + "volume/*",
				"ec2:RunInstances " + pfx + "volume/*",
				"ec2:RunInstances " + pfx + "network-interface/*",
				"ec2:RunInstances " + pfx + "security-group/sg-0build",
				"ec2:RunInstances " + pfx + "subnet/subnet-0a",
				"ec2:RunInstances " + pfx + "key-pair/packer_1",
				"iam:PassRole arn:aws:iam::111122223333:role/cisecs-build-instance",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := Expand(ec2Req("RunInstances", tt.params...), testState())
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(cs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, c := range cs {
				_, has := c.Context["aws:RequestTag/cisecs:image"]
				created := strings.HasSuffix(c.Resource, "/*")
				if has != (tt.tagged && created) {
					t.Errorf("%s: aws:RequestTag/cisecs:image present %v, want %v", c, has, tt.tagged && created)
				}
				if c.Action == "ec2:CreateTags" && c.Context["ec2:CreateAction"][0] != "RunInstances" {
					t.Errorf("%s: tag on create without ec2:CreateAction=RunInstances", c)
				}
				if c.Context["aws:RequestedRegion"][0] != region {
					t.Errorf("%s: no aws:RequestedRegion", c)
				}
			}
			img := cs[0]
			if img.Context["aws:ResourceTag/Name"][0] != "base" || img.Context["ec2:Owner"][0] != "aws-marketplace" {
				t.Errorf("image check %s: want its tags and owner", img)
			}
			pass := cs[len(cs)-1]
			if pass.Context["iam:PassedToService"][0] != "ec2.amazonaws.com" {
				t.Errorf("%s: want iam:PassedToService ec2.amazonaws.com", pass)
			}
		})
	}
}

func TestExpandRunInstancesVolumeEncryption(t *testing.T) {
	cs, err := Expand(ec2Req("RunInstances", "ImageId", "ami-0base", "SubnetId", "subnet-0a",
		"BlockDeviceMapping.1.DeviceName", "/dev/xvda", "BlockDeviceMapping.1.Ebs.Encrypted", "true"), testState())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.Contains(c.Resource, ":volume/") && first(c.Context["ec2:Encrypted"]) != "true" {
			t.Errorf("%s: want ec2:Encrypted true", c)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	noDefault := testState()
	noDefault.defaultVPC = [2]string{}
	tests := []struct {
		name  string
		req   Request
		state *fakeState
		want  string
	}{
		{"unmodelled EC2 operation", ec2Req("Foo"), testState(), "no IAM model for ec2:Foo"},
		{"unmodelled IAM operation", Request{Service: "iam", Operation: "CreateUser", Query: url.Values{}}, testState(), "no IAM model for iam:CreateUser"},
		{"unmodelled service", Request{Service: "s3", Operation: "GetObject"}, testState(), `"s3"`},
		{"no default VPC", ec2Req("RunInstances", "ImageId", "ami-0base"), noDefault, "no default VPC"},
		{"unknown subnet", ec2Req("RunInstances", "ImageId", "ami-0base", "SubnetId", "subnet-0x"), testState(), `"subnet-0x"`},
		{"unknown profile", ec2Req("RunInstances", "ImageId", "ami-0base", "SubnetId", "subnet-0a", "IamInstanceProfile.Name", "other"), testState(), `"other"`},
		{"launch template", ec2Req("RunInstances", "ImageId", "ami-0base", "LaunchTemplate.LaunchTemplateId", "lt-1"), testState(), "LaunchTemplate"},
		{"groups by name", ec2Req("RunInstances", "ImageId", "ami-0base", "SecurityGroup.1", "default"), testState(), "SecurityGroup"},
		{"a capacity reservation target", ec2Req("RunInstances", "ImageId", "ami-0base", "SubnetId", "subnet-0a", "CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId", "cr-1"), testState(), "CapacityReservationSpecification"},
		{"tags on an unknown kind", ec2Req("CreateTags", "ResourceId.1", "lt-1", "Tag.1.Key", "k"), testState(), `"lt-1"`},
		{"service-linked role of another service", Request{Service: "iam", Operation: "CreateServiceLinkedRole", Query: url.Values{"AWSServiceName": {"x.amazonaws.com"}}}, testState(), `"x.amazonaws.com"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Expand(tt.req, tt.state)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Expand: error %v, want one with %q", err, tt.want)
			}
		})
	}
}

// TestExpandRunInstancesNoReservation: CapacityReservationPreference none
// (as Packer sends it) or open names no reservation, and adds no check.
func TestExpandRunInstancesNoReservation(t *testing.T) {
	base := []string{"ImageId", "ami-0base", "SubnetId", "subnet-0a", "MinCount", "1", "MaxCount", "1"}
	want, err := Expand(ec2Req("RunInstances", base...), testState())
	if err != nil {
		t.Fatal(err)
	}
	for _, pref := range []string{"none", "open"} {
		got, err := Expand(ec2Req("RunInstances", append(slices.Clone(base), "CapacityReservationSpecification.CapacityReservationPreference", pref)...), testState())
		if err != nil || len(got) != len(want) {
			t.Errorf("preference %s: %d checks, error %v; want the %d checks of a launch without it", pref, len(got), err, len(want))
		}
	}
}

func TestExpandOthers(t *testing.T) {
	ssm := func(op string, j map[string]any) Request {
		return Request{Service: "ssm", Operation: op, Region: region, Account: account, JSON: j,
			Caller: map[string][]string{"aws:userid": {"AROAX:s"}}}
	}
	iamReq := func(op string, kv ...string) Request {
		r := ec2Req(op, kv...)
		r.Service = "iam"
		return r
	}
	tests := []struct {
		name string
		req  Request
		want []string
		// key and value wanted in the first check's context.
		key, value string
	}{
		{"CreateTags on an existing AMI", ec2Req("CreateTags", "ResourceId.1", "ami-0built", "Tag.1.Key", "cisecs:gate-run-id", "Tag.1.Value", "r1"),
			[]string{"ec2:CreateTags arn:aws:ec2:eu-west-1::image/ami-0built"}, "aws:ResourceTag/cisecs:image", "al2023"},
		{"CreateImage", ec2Req("CreateImage", "InstanceId", "i-0build", "TagSpecification.1.ResourceType", "image", "TagSpecification.1.Tag.1.Key", "cisecs:image", "TagSpecification.1.Tag.1.Value", "al2023"),
			[]string{"ec2:CreateImage " + pfx + "instance/i-0build", "ec2:CreateImage arn:aws:ec2:eu-west-1::image/*", "ec2:CreateTags arn:aws:ec2:eu-west-1::image/*", "ec2:CreateImage arn:aws:ec2:eu-west-1::snapshot/*"},
			"aws:ResourceTag/Name", "build"},
		{"CreateSecurityGroup in the default VPC", ec2Req("CreateSecurityGroup", "GroupName", "packer_1", "GroupDescription", "d"),
			[]string{"ec2:CreateSecurityGroup " + pfx + "security-group/*", "ec2:CreateSecurityGroup " + pfx + "vpc/vpc-0def"}, "ec2:Vpc", pfx + "vpc/vpc-0def"},
		{"DescribeImages", ec2Req("DescribeImages"), []string{"ec2:DescribeImages *"}, "aws:RequestedRegion", region},
		{"StartSession", ssm("StartSession", map[string]any{"Target": "i-0build", "DocumentName": "AWS-StartPortForwardingSession"}),
			[]string{"ssm:StartSession " + pfx + "instance/i-0build", "ssm:StartSession arn:aws:ssm:eu-west-1::document/AWS-StartPortForwardingSession"},
			"ssm:resourceTag/cisecs:image", "al2023"},
		{"TerminateSession", ssm("TerminateSession", map[string]any{"SessionId": "AROAX:s-1"}),
			[]string{"ssm:TerminateSession arn:aws:ssm:eu-west-1:111122223333:session/AROAX:s-1"}, "ssm:resourceTag/aws:ssmmessages:session-id", "AROAX:s"},
		{"PutParameter of an AMI id", ssm("PutParameter", map[string]any{"Name": "/cisecs/x/ami-id", "DataType": "aws:ec2:image"}),
			[]string{"ssm:PutParameter arn:aws:ssm:eu-west-1:111122223333:parameter/cisecs/x/ami-id", "ec2:DescribeImages *"}, "aws:userid", "AROAX:s"},
		{"a public parameter", ssm("GetParameter", map[string]any{"Name": "/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"}),
			[]string{"ssm:GetParameter arn:aws:ssm:eu-west-1::parameter/aws/service/ecs/optimized-ami/amazon-linux-2023/recommended"}, "aws:RequestedRegion", region},
		{"AddRoleToInstanceProfile", iamReq("AddRoleToInstanceProfile", "InstanceProfileName", "packer-1", "RoleName", "packer-1"),
			[]string{"iam:AddRoleToInstanceProfile arn:aws:iam::111122223333:instance-profile/packer-1", "iam:PassRole arn:aws:iam::111122223333:role/packer-1"}, "aws:RequestedRegion", region},
		{"CreateRole with tags", iamReq("CreateRole", "RoleName", "packer-1", "Tags.member.1.Key", "cisecs:image", "Tags.member.1.Value", "al2023"),
			[]string{"iam:CreateRole arn:aws:iam::111122223333:role/packer-1", "iam:TagRole arn:aws:iam::111122223333:role/packer-1"}, "aws:RequestTag/cisecs:image", "al2023"},
		{"CreateServiceLinkedRole", iamReq("CreateServiceLinkedRole", "AWSServiceName", "ecs.amazonaws.com"),
			[]string{"iam:CreateServiceLinkedRole arn:aws:iam::111122223333:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"}, "iam:AWSServiceName", "ecs.amazonaws.com"},
		{"RunTask", Request{Service: "ecs", Operation: "RunTask", Region: region, Account: account, JSON: map[string]any{
			"cluster": "cisecs-gate-1", "taskDefinition": "cisecs-gate-1-bridge", "tags": []any{map[string]any{"key": "cisecs:run-id", "value": "1"}}}},
			[]string{"ecs:RunTask arn:aws:ecs:eu-west-1:111122223333:task-definition/cisecs-gate-1-bridge:*", "ecs:TagResource arn:aws:ecs:eu-west-1:111122223333:task/cisecs-gate-1/*"},
			"ecs:cluster", "arn:aws:ecs:eu-west-1:111122223333:cluster/cisecs-gate-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs, err := Expand(tt.req, testState())
			if err != nil {
				t.Fatal(err)
			}
			if got := summary(cs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("checks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if v := cs[0].Context[tt.key]; len(v) != 1 || v[0] != tt.value {
				t.Errorf("%s: %s = %q, want %q", cs[0], tt.key, v, tt.value)
			}
		})
	}
}

func TestExpandGetCallerIdentity(t *testing.T) {
	cs, err := Expand(Request{Service: "sts", Operation: "GetCallerIdentity"}, testState())
	if err != nil || len(cs) != 0 {
		t.Errorf("GetCallerIdentity: %v, %v; want no check", cs, err)
	}
}

// TestExpandDeleteKeyPairByID: a key pair deleted by its id is authorized
// on the ARN that holds its name, with its tags as they stand; an id of no
// key pair is an error.
func TestExpandDeleteKeyPairByID(t *testing.T) {
	st := testState()
	st.keyPairs = map[string]string{"key-0abc": "packer_1"}
	cs, err := Expand(ec2Req("DeleteKeyPair", "KeyPairId", "key-0abc"), st)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Action != "ec2:DeleteKeyPair" || !strings.HasSuffix(cs[0].Resource, ":key-pair/packer_1") ||
		!slices.Equal(cs[0].Context["aws:ResourceTag/cisecs:image"], []string{"al2023"}) {
		t.Errorf("checks %v: want ec2:DeleteKeyPair on key-pair/packer_1 with its cisecs:image tag", cs)
	}
	if _, err := Expand(ec2Req("DeleteKeyPair", "KeyPairId", "key-0none"), st); err == nil || !strings.Contains(err.Error(), `"key-0none"`) {
		t.Errorf("unknown id: error %v", err)
	}
}
