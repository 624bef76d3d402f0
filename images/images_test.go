package images_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/release"
)

// shipped are the image definitions this directory must hold.
var shipped = []string{
	"al2-cis-level1",
	"al2023-cis-level1",
	"al2023-cis-level1-arm64",
	"rhel9-cis-level1",
	"ubuntu2204-cis-level1",
}

func TestShippedDefinitions(t *testing.T) {
	paths, err := images.Files(".")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatalf("shipped definitions have problems:\n%v", err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
		t.Run(img.Name, func(t *testing.T) {
			if img.Base.ProductCode != "" {
				t.Errorf("product_code %q: shipped definitions leave product codes out unless they are known", img.Base.ProductCode)
			}
			if !reflect.DeepEqual(img.Base.Owners, []string{"aws-marketplace"}) {
				t.Errorf("owners = %q, want the CIS Hardened Images owner aws-marketplace", img.Base.Owners)
			}
			if !strings.HasPrefix(img.Base.NamePattern, "CIS ") || !strings.HasSuffix(img.Base.NamePattern, "Level 1*") {
				t.Errorf("name pattern %q is not a CIS Level 1 pattern", img.Base.NamePattern)
			}
			if !img.Volume.Encrypted || !img.Share.Empty() {
				t.Errorf("shipped definitions must be encrypted and unshared: volume %+v, share %+v", img.Volume, img.Share)
			}
		})
	}
	for _, want := range shipped {
		if !slices.Contains(names, want) {
			t.Errorf("no shipped definition %q (have %q)", want, names)
		}
	}
}

func TestArchitectures(t *testing.T) {
	for _, tc := range []struct {
		name, arch string
	}{
		{"al2023-cis-level1", "x86_64"},
		{"al2023-cis-level1-arm64", "arm64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := mustParseFile(t, tc.name+".hcl")
			if img.Base.Architecture != tc.arch {
				t.Errorf("architecture = %q, want %q", img.Base.Architecture, tc.arch)
			}
			// The gate launches the AMI on this type: EC2 refuses one of
			// another architecture.
			if want := release.GateInstanceType(tc.arch); img.GateInstanceType != want {
				t.Errorf("gate instance type = %q, want %q", img.GateInstanceType, want)
			}
		})
	}
}

// TestInstanceTypeArchitecture: a definition takes instance types of its
// base's architecture, by family, and refuses the others (EC2 would refuse
// to launch the AMI on them).
func TestInstanceTypeArchitecture(t *testing.T) {
	for _, tc := range []struct {
		instanceType, arch string
	}{
		{"t3.small", "x86_64"}, {"t3a.medium", "x86_64"}, {"c7i-flex.large", "x86_64"}, {"g4dn.xlarge", "x86_64"},
		{"m7i.large", "x86_64"}, {"r7iz.large", "x86_64"}, {"inf2.xlarge", "x86_64"},
		{"t4g.small", "arm64"}, {"m7gd.large", "arm64"}, {"c7gn.large", "arm64"}, {"g5g.xlarge", "arm64"},
		{"im4gn.large", "arm64"}, {"a1.large", "arm64"}, {"c8g.large", "arm64"},
	} {
		t.Run(tc.instanceType, func(t *testing.T) {
			for _, arch := range images.Architectures() {
				src := strings.Replace(minimal, `architecture = "arm64"`, `architecture = "`+arch+`"`, 1)
				src = strings.Replace(src, `region = "eu-west-1"`, `region = "eu-west-1"`+"\n  gate_instance_type = \""+tc.instanceType+`"`, 1)
				img, err := images.Parse("min.hcl", []byte(src))
				if ok := arch == tc.arch; ok != (err == nil) {
					t.Errorf("%s base: Parse error %v, want an error: %t", arch, err, !ok)
				}
				if err == nil && img.GateInstanceType != tc.instanceType {
					t.Errorf("%s base: gate instance type %q, want %q", arch, img.GateInstanceType, tc.instanceType)
				}
			}
		})
	}
}

// minimal is the smallest good definition, of the image "min".
const minimal = `
image "min" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Amazon Linux 2023 Benchmark - Level 1*"
    architecture = "arm64"
    os           = "al2023"
  }
  region = "eu-west-1"
}
`

func TestDefaults(t *testing.T) {
	img, err := images.Parse("images/min.hcl", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(minimal))
	want := images.Image{
		Name:        "min",
		File:        "images/min.hcl",
		Digest:      hex.EncodeToString(sum[:]),
		Description: "cisecs min: Amazon ECS host on CIS-hardened Amazon Linux 2023 (arm64)",
		Base: images.Base{
			Owners:       []string{"aws-marketplace"},
			NamePattern:  "CIS Amazon Linux 2023 Benchmark - Level 1*",
			Architecture: "arm64",
			OS:           "al2023",
		},
		InstanceType:     "t4g.medium",
		GateInstanceType: "t4g.small",
		Region:           "eu-west-1",
		Volume:           images.Volume{SizeGB: 30, Type: "gp3", Encrypted: true, DeviceName: "/dev/xvda"},
		ECS:              images.ECS{NetworkModes: []string{"awsvpc", "bridge", "host"}, AWSVPCBlockIMDS: true},
		SSMParameter:     "/cisecs/min/ami-id",
	}
	if !reflect.DeepEqual(img, want) {
		t.Errorf("Parse(minimal) =\n%+v\nwant\n%+v", img, want)
	}
}

func TestRootDeviceByOS(t *testing.T) {
	for _, tc := range []struct {
		name, os, device string
	}{
		{"amazon-linux-2023", "al2023", "/dev/xvda"},
		{"amazon-linux-2", "al2", "/dev/xvda"},
		{"rhel9", "rhel9", "/dev/sda1"},
		{"rhel8", "rhel8", "/dev/sda1"},
		{"ubuntu2204", "ubuntu2204", "/dev/sda1"},
		{"ubuntu2404", "ubuntu2404", "/dev/sda1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, `os           = "al2023"`, `os = "`+tc.os+`"`, 1)
			img, err := images.Parse("min.hcl", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if img.Volume.DeviceName != tc.device {
				t.Errorf("device = %q, want %q", img.Volume.DeviceName, tc.device)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	// Each definition is the image "bad" in bad.hcl. base is the body of a
	// good base block, for the cases about something else.
	const base = `base {
    owners       = ["aws-marketplace"]
    name         = "CIS*"
    architecture = "x86_64"
    os           = "al2023"
  }
`
	for _, tc := range []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "syntax error",
			src:  "image \"bad\" {\n  region = \n}\n",
			want: []string{"bad.hcl:2:12: invalid expression: expected the start of an expression, but found an invalid expression token"},
		},
		{
			name: "no image block",
			src:  "# nothing\n",
			want: []string{`bad.hcl:1:1: image: no image block; write image "bad" { ... }`},
		},
		{
			name: "two image blocks",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n}\nimage \"bad\" {}\n",
			want: []string{"bad.hcl:10:1: image: a second image block; a definition holds one image (the first is at 1:1)"},
		},
		{
			name: "something besides the image block",
			src:  "region = \"us-east-1\"\nimage \"bad\" {\n  " + base + "  region = \"us-east-1\"\n}\n",
			want: []string{"bad.hcl:1:1: region: unknown attribute; a definition holds one image block and nothing else"},
		},
		{
			name: "label is not the file name",
			src:  "image \"good\" {\n  " + base + "  region = \"us-east-1\"\n}\n",
			want: []string{`bad.hcl:1:7: image "good": the name must be the file's name, "bad"`},
		},
		{
			name: "image without a label",
			src:  "image {\n  " + base + "  region = \"us-east-1\"\n}\n",
			want: []string{`bad.hcl:1:1: image: takes one label, the image name: image "bad" { ... }`},
		},
		{
			name: "unknown attribute",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  instance_typ = \"t3.small\"\n}\n",
			want: []string{"bad.hcl:9:3: instance_typ: unknown attribute (did you mean instance_type?)"},
		},
		{
			name: "unknown block",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  firewall {}\n}\n",
			want: []string{"bad.hcl:9:3: firewall: unknown block (blocks here are base, volume, docker_volume, audit_volume, share, ecs)"},
		},
		{
			name: "block written as an attribute",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume = { size_gb = 10 }\n}\n",
			want: []string{"bad.hcl:9:3: volume: unknown attribute; volume is a block: volume { ... }"},
		},
		{
			name: "unknown attribute in a nested block",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    size = 10\n  }\n}\n",
			want: []string{"bad.hcl:10:5: volume.size: unknown attribute (attributes here are size_gb, type, encrypted, kms_key_id, region_kms_key_ids, device_name)"},
		},
		{
			name: "two volume blocks",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {}\n  volume {}\n}\n",
			want: []string{"bad.hcl:10:3: volume: a second volume block (the first is at 9:3)"},
		},
		{
			name: "missing base",
			src:  "image \"bad\" {\n  region = \"us-east-1\"\n}\n",
			want: []string{`bad.hcl:1:1: base: required block is missing: base { owners = [...], name = "...", architecture = "...", os = "..." }`},
		},
		{
			name: "empty base",
			src:  "image \"bad\" {\n  base {}\n  region = \"us-east-1\"\n}\n",
			want: []string{
				`bad.hcl:2:3: base.owners: required attribute is missing: the AMI's owners, such as ["aws-marketplace"]`,
				"bad.hcl:2:3: base: set name (an AMI name pattern), product_code, or both, so that the base is not any AMI of its owners",
				"bad.hcl:2:3: base.architecture: required attribute is missing: x86_64 or arm64",
				`bad.hcl:2:3: base.os: required attribute is missing, such as "al2023"`,
			},
		},
		{
			name: "unknown os and architecture",
			src:  "image \"bad\" {\n  base {\n    owners = [\"aws-marketplace\"]\n    name = \"CIS*\"\n    architecture = \"amd64\"\n    os = \"debian12\"\n  }\n  region = \"us-east-1\"\n}\n",
			want: []string{
				`bad.hcl:5:20: base.architecture: unknown architecture "amd64" (architectures are x86_64, arm64)`,
				`bad.hcl:6:10: base.os: unknown OS "debian12" (OSes are al2023, al2, rhel9, rhel8, ubuntu2204, ubuntu2404)`,
			},
		},
		{
			name: "bad owner and product code",
			src:  "image \"bad\" {\n  base {\n    owners = [\"aws-marketplace\", \"12345\"]\n    product_code = \"Not-A-Code\"\n    architecture = \"x86_64\"\n    os = \"al2\"\n  }\n  region = \"us-east-1\"\n}\n",
			want: []string{
				`bad.hcl:3:34: base.owners: "12345" is neither a 12-digit account id nor one of amazon, aws-marketplace, self`,
				`bad.hcl:4:20: base.product_code: "Not-A-Code" is not an AWS Marketplace product code (lower-case letters and digits)`,
			},
		},
		{
			name: "missing region",
			src:  "image \"bad\" {\n  " + base + "}\n",
			want: []string{`bad.hcl:1:1: region: required attribute is missing: the region to build in, such as "us-east-1"`},
		},
		{
			name: "bad region",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east\"\n}\n",
			want: []string{`bad.hcl:8:12: region: "us-east" is not an AWS region name such as us-east-1`},
		},
		{
			name: "bad copy regions",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  copy_regions = [\"eu-west-1\", \"us-east-1\", \"EU-WEST-2\", \"eu-west-1\"]\n}\n",
			want: []string{
				`bad.hcl:9:32: copy_regions: "us-east-1" is the build region; the AMI is made there already`,
				`bad.hcl:9:45: copy_regions: "EU-WEST-2" is not an AWS region name such as us-east-1`,
				`bad.hcl:9:58: copy_regions: "eu-west-1" is listed twice (first at 9:19)`,
			},
		},
		{
			name: "wrong types",
			src:  "image \"bad\" {\n  " + base + "  region = [\"us-east-1\"]\n  copy_regions = \"eu-west-1\"\n  tags = [\"a\"]\n}\n",
			want: []string{
				"bad.hcl:8:12: region: want a string, not tuple",
				"bad.hcl:9:18: copy_regions: want a list of strings, not string",
				"bad.hcl:10:10: tags: want a map of strings, not tuple",
			},
		},
		{
			name: "variables and functions",
			src:  "image \"bad\" {\n  " + base + "  region = var.region\n  instance_type = lower(\"T3.SMALL\")\n}\n",
			want: []string{
				"bad.hcl:8:12: region: variables not allowed",
				"bad.hcl:9:19: instance_type: function calls not allowed",
			},
		},
		{
			name: "null",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  instance_type = null\n}\n",
			want: []string{"bad.hcl:9:19: instance_type: null is not a value here; leave the setting out instead"},
		},
		{
			name: "packer template syntax in a value",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  description = \"built {{ timestamp }}\"\n}\n",
			want: []string{`bad.hcl:9:17: description: "built {{ timestamp }}" holds "{{", which Packer would read as a template; definitions hold plain values`},
		},
		{
			name: "bad instance type",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  instance_type = \"large\"\n}\n",
			want: []string{`bad.hcl:9:19: instance_type: "large" is not an EC2 instance type such as t3.medium`},
		},
		{
			name: "gate instance type of another architecture",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  gate_instance_type = \"t4g.small\"\n}\n",
			want: []string{`bad.hcl:9:24: gate_instance_type: "t4g.small" is an arm64 instance type, and the base AMI is x86_64: want one like t3.small`},
		},
		{
			name: "build instance type of another architecture",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  instance_type = \"m7g.large\"\n}\n",
			want: []string{`bad.hcl:9:19: instance_type: "m7g.large" is an arm64 instance type, and the base AMI is x86_64: want one like t3.medium`},
		},
		{
			name: "bad gate instance type",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  gate_instance_type = \"small\"\n}\n",
			want: []string{`bad.hcl:9:24: gate_instance_type: "small" is not an EC2 instance type such as t3.small`},
		},
		{
			name: "volume too small",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    size_gb = 4\n  }\n}\n",
			want: []string{"bad.hcl:10:15: volume.size_gb: 4 is outside 8 to 16384"},
		},
		{
			name: "volume too large",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    size_gb = 20000\n  }\n}\n",
			want: []string{"bad.hcl:10:15: volume.size_gb: 20000 is outside 8 to 16384"},
		},
		{
			name: "volume size not whole",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    size_gb = 30.5\n  }\n}\n",
			want: []string{"bad.hcl:10:15: volume.size_gb: 30.5 is not a whole number"},
		},
		{
			name: "volume type and device",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    type = \"io2\"\n    device_name = \"sda\"\n  }\n}\n",
			want: []string{
				`bad.hcl:10:12: volume.type: "io2" is not a root volume type (types are gp3, gp2)`,
				`bad.hcl:11:19: volume.device_name: "sda" is not a device name such as /dev/xvda or /dev/sda1`,
			},
		},
		{
			name: "kms key without encryption",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    encrypted = false\n    kms_key_id = \"alias/cisecs\"\n  }\n}\n",
			want: []string{"bad.hcl:11:18: volume.kms_key_id: set, but volume.encrypted is false"},
		},
		{
			name: "kms key in another region",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    kms_key_id = \"arn:aws:kms:eu-west-1:123456789012:alias/cisecs\"\n  }\n}\n",
			want: []string{`bad.hcl:10:18: volume.kms_key_id: key "arn:aws:kms:eu-west-1:123456789012:alias/cisecs" is in region "eu-west-1", not "us-east-1"`},
		},
		{
			name: "bad kms key",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    kms_key_id = \"my-key\"\n  }\n}\n",
			want: []string{`bad.hcl:10:18: volume.kms_key_id: "my-key" is not a KMS key id, alias/NAME or key ARN`},
		},
		{
			name: "aws managed kms key",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    kms_key_id = \"alias/aws/ebs\"\n  }\n}\n",
			want: []string{`bad.hcl:10:18: volume.kms_key_id: "alias/aws/ebs" is an AWS managed key; leave the key out to use it`},
		},
		{
			name: "region keys that do not match the copy regions",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  copy_regions = [\"eu-west-1\", \"eu-west-2\"]\n  volume {\n    region_kms_key_ids = {\n      eu-west-1 = \"alias/cisecs\"\n      ap-south-1 = \"alias/cisecs\"\n    }\n  }\n}\n",
			want: []string{
				`bad.hcl:11:26: volume.region_kms_key_ids: no key for copy region "eu-west-2"; once one copy region has a key, every one needs one`,
				`bad.hcl:13:7: volume.region_kms_key_ids: "ap-south-1" is not one of copy_regions`,
			},
		},
		{
			name: "bad sharing targets",
			src: "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  volume {\n    kms_key_id = \"alias/cisecs\"\n  }\n" +
				"  share {\n    accounts = [\"12345678901\", \"123456789012\", \"123456789012\"]\n" +
				"    organizations = [\"arn:aws:organizations::123456789012:organization/o-short\"]\n" +
				"    organizational_units = [\"ou-ab12-cd34ef56\"]\n  }\n}\n",
			want: []string{
				`bad.hcl:13:17: share.accounts: "12345678901" is not a 12-digit AWS account id`,
				`bad.hcl:13:48: share.accounts: "123456789012" is listed twice`,
				`bad.hcl:14:22: share.organizations: "arn:aws:organizations::123456789012:organization/o-short" is not an organization ARN (arn:aws:organizations::ACCOUNT:organization/o-ID)`,
				`bad.hcl:15:29: share.organizational_units: "ou-ab12-cd34ef56" is not an organizational unit ARN (arn:aws:organizations::ACCOUNT:ou/o-ID/ou-ID)`,
			},
		},
		{
			name: "sharing an AMI encrypted with the AWS managed key",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  copy_regions = [\"eu-west-1\"]\n  share {\n    accounts = [\"123456789012\"]\n  }\n}\n",
			want: []string{
				"bad.hcl:10:3: share: the AMI is encrypted with the AWS managed key, which cannot be shared; set volume.kms_key_id to a customer managed key the accounts may use",
				`bad.hcl:10:3: share: the copy in "eu-west-1" is encrypted with that region's AWS managed key, which cannot be shared; give it a key in volume.region_kms_key_ids`,
			},
		},
		{
			name: "tags",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  tags = {\n    \"aws:team\" = \"x\"\n    Name = \"mine\"\n    \"cisecs:image\" = \"x\"\n    Team = \"a\"\n    Team = \"b\"\n  }\n}\n",
			want: []string{
				`bad.hcl:10:5: tags: key "aws:team": the aws: prefix is AWS's own`,
				`bad.hcl:11:5: tags: key "Name" is set by cisecs (the AMI's provenance)`,
				`bad.hcl:12:5: tags: key "cisecs:image" is set by cisecs (the AMI's provenance)`,
				`bad.hcl:14:5: tags: key "Team" is set twice (first at 13:5)`,
			},
		},
		{
			name: "ecs options, checked by the host script",
			src: "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  ecs {\n    agent_version = \"latest\"\n" +
				"    network_modes = [\"awsvpc\", \"nat\", \"awsvpc\"]\n" +
				"    config = {\n      ECS_CLUSTER = \"prod\"\n      ecs_loglevel = \"debug\"\n      ECS_AWSVPC_BLOCK_IMDS = \"false\"\n    }\n  }\n}\n",
			want: []string{
				`bad.hcl:10:21: ecs.agent_version: "latest" is not a version like 1.86.3 or 1.86.3-1`,
				`bad.hcl:11:32: ecs.network_modes: unknown mode "nat" (modes are awsvpc, bridge, host)`,
				`bad.hcl:11:39: ecs.network_modes: "awsvpc" is listed twice`,
				"bad.hcl:13:7: ecs.config: ECS_CLUSTER must not be baked into an image; set it in user data at launch",
				`bad.hcl:14:7: ecs.config: "ecs_loglevel" is not an ecs.config key (ECS_ followed by A-Z, 0-9, _)`,
				"bad.hcl:15:7: ecs.config: set ECS_AWSVPC_BLOCK_IMDS with ecs.awsvpc_block_imds",
			},
		},
		{
			name: "ecs block imds not a bool",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  ecs {\n    awsvpc_block_imds = \"yes\"\n  }\n}\n",
			want: []string{"bad.hcl:10:25: ecs.awsvpc_block_imds: want true or false, not string"},
		},
		{
			name: "bad ssm parameter",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  ssm_parameter = \"/aws/cisecs/ami\"\n}\n",
			want: []string{`bad.hcl:9:19: ssm_parameter: "/aws/cisecs/ami": names that start with aws or ssm are reserved`},
		},
		{
			name: "ssm parameter not a path",
			src:  "image \"bad\" {\n  " + base + "  region = \"us-east-1\"\n  ssm_parameter = \"cisecs ami\"\n}\n",
			want: []string{`bad.hcl:9:19: ssm_parameter: "cisecs ami" is not a parameter path such as /cisecs/NAME/ami-id (letters, digits and . _ - between slashes)`},
		},
		{
			name: "every problem at once, in order",
			src:  "image \"bad\" {\n  region = \"nowhere\"\n  volume {\n    size_gb = 1\n  }\n}\n",
			want: []string{
				"bad.hcl:1:1: base: required block is missing: base { owners = [...], name = \"...\", architecture = \"...\", os = \"...\" }",
				`bad.hcl:2:12: region: "nowhere" is not an AWS region name such as us-east-1`,
				"bad.hcl:4:15: volume.size_gb: 1 is outside 8 to 16384",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, err := images.Parse("bad.hcl", []byte(tc.src))
			if err == nil {
				t.Fatalf("Parse succeeded with %+v; want problems:\n%s", img, strings.Join(tc.want, "\n"))
			}
			got := problemLines(t, err)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestFileNameMustEndInHCL(t *testing.T) {
	_, err := images.Parse("min.txt", []byte(minimal))
	got := problemLines(t, err)
	want := []string{
		"min.txt: a definition's file name is the image name followed by .hcl",
		`min.txt:2:7: image "min": the name must be the file's name, "min.txt"`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a", "min.hcl")
	b := filepath.Join(dir, "b", "min.hcl")
	for _, p := range []string{a, b} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(minimal), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := images.Load([]string{a, b})
	got := problemLines(t, err)
	want := []string{b + `:2:7: image "min": already defined at ` + a + `:2:7; image names must be unique`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestLoadReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "min.hcl")
	bad := filepath.Join(dir, "bad.hcl")
	missing := filepath.Join(dir, "missing.hcl")
	if err := os.WriteFile(good, []byte(minimal), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("image \"bad\" {\n  region = \"x\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := images.Load([]string{good, bad, missing})
	got := problemLines(t, err)
	if len(got) != 3 ||
		!strings.HasPrefix(got[0], bad+":1:1: base: required block is missing") ||
		!strings.HasPrefix(got[1], bad+`:2:12: region: "x" is not an AWS region name`) ||
		!strings.HasPrefix(got[2], missing+": cannot read the definition: ") {
		t.Errorf("problems:\n%s", strings.Join(got, "\n"))
	}
}

func TestLoadOrdersByName(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"zeta", "alpha", "mid"} {
		p := filepath.Join(dir, name+".hcl")
		src := strings.Replace(minimal, `"min"`, `"`+name+`"`, 1)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, img := range imgs {
		names = append(names, img.Name)
	}
	if want := []string{"alpha", "mid", "zeta"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names = %q, want %q", names, want)
	}
}

func mustParseFile(t *testing.T, path string) images.Image {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := images.Parse(path, src)
	if err != nil {
		t.Fatalf("Parse(%q):\n%v", path, err)
	}
	return img
}

// problemLines returns err's problems as lines, failing unless err is
// Problems.
func problemLines(t *testing.T, err error) []string {
	t.Helper()
	var ps images.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v (%T) is not images.Problems", err, err)
	}
	var lines []string
	for _, p := range ps {
		lines = append(lines, p.String())
	}
	return lines
}
