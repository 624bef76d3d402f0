// Package images reads image definitions: one HCL file per image,
// images/NAME.hcl, holding one image "NAME" block that names the
// CIS-hardened base AMI, where the image is built and shared, and the ECS
// agent's options. Every mistake in a set of definitions is reported at
// once, each as "file:line:col: what is wrong". Values are literals:
// variables and function calls are refused, and so is "{{", which Packer
// would read as a template.
//
// The format, with what is required and the defaults:
//
//	image "NAME" {                     # NAME is the file's name less .hcl
//	  description   = "..."            # default: "cisecs NAME: Amazon ECS host on CIS-hardened OS (ARCH)"
//	  base {                           # required: the newest AMI matching all of:
//	    owners       = ["aws-marketplace"]  # required: account ids, amazon, aws-marketplace, self
//	    name         = "CIS ... - Level 1*" # an AMI name pattern; name, product_code or both
//	    product_code = "..."                # an AWS Marketplace product code
//	    include_deprecated = false          # let the base be a deprecated AMI
//	    architecture = "x86_64"             # required: x86_64, arm64
//	    os           = "al2023"             # required: al2023, al2, rhel9, rhel8, ubuntu2204, ubuntu2404
//	  }
//	  region        = "us-east-1"      # required: where the image is built
//	  instance_type = "t3.medium"      # the build instance; default t3.medium, t4g.medium for arm64
//	  gate_instance_type = "t3.small"  # the release gate's instance; default t3.small, t4g.small for arm64
//	  copy_regions  = ["eu-west-1"]    # default none
//	  volume {                         # the root volume
//	    size_gb            = 30        # 8 to 16384
//	    type               = "gp3"     # gp3, gp2
//	    encrypted          = true
//	    kms_key_id         = "..."     # default: the AWS managed key; a key in region
//	    region_kms_key_ids = { REGION = "..." }  # one per copy region, or none
//	    device_name        = "..."     # default: the OS's root device
//	  }
//	  share {                          # default: nobody; needs a customer managed KMS key
//	    accounts             = ["111122223333"]
//	    organizations        = ["arn:aws:organizations::111122223333:organization/o-..."]
//	    organizational_units = ["arn:aws:organizations::111122223333:ou/o-.../ou-..."]
//	  }
//	  tags = { Team = "platform" }     # on the AMI, its snapshots and the build instance
//	  ecs {                            # checked by the host script's own rules
//	    agent_version     = "1.86.3"   # default: the newest
//	    network_modes     = ["awsvpc", "bridge", "host"]  # default all three
//	    awsvpc_block_imds = true
//	    allow_overlayfs   = false      # accept CIS L2's overlay rule's removal (Ubuntu 24.04)
//	    config            = { ECS_LOGLEVEL = "info" }  # never ECS_CLUSTER
//	  }
//	  docker_volume { size_gb = 100 }  # /var/lib/docker on a volume of its own (see DataVolume)
//	  audit_volume  { size_gb = 20 }   # /var/log/audit on a volume of its own
//	  ssm_parameter = "/cisecs/NAME/ami-id"  # holds the released AMI id
//	}
//
// The defaults are the safe choices: an encrypted root volume, IMDSv2
// required on the build instance and on the AMI, SSM Session Manager
// instead of inbound SSH, and no public sharing (there is no way to ask
// for it).
package images

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
)

// Image is one checked image definition, with every default filled in.
type Image struct {
	// Name is the image's name, which is also its file's name less .hcl.
	Name string
	// File is the definition's path as it was given.
	File string
	// Digest is the SHA-256 of the definition file's bytes, hex-encoded:
	// the AMI carries it as provenance.
	Digest string
	// Description is the AMI description.
	Description string
	// Base selects the CIS-hardened AMI the image is built from.
	Base Base
	// InstanceType is the build instance's type.
	InstanceType string
	// GateInstanceType is the type of the instance the release gate
	// launches the AMI on.
	GateInstanceType string
	// Region is where the image is built.
	Region string
	// CopyRegions are the other regions the AMI is copied to.
	CopyRegions []string
	// Volume is the root volume.
	Volume Volume
	// DockerVolume and AuditVolume give /var/lib/docker and
	// /var/log/audit volumes of their own (see DataVolume).
	DockerVolume, AuditVolume DataVolume
	// Share is who else may launch the AMI.
	Share Share
	// Tags are the user's tags on the AMI, its snapshots and the build
	// instance; cisecs adds its provenance tags to them.
	Tags map[string]string
	// ECS holds the ECS agent's options, handed to the provisioner.
	ECS ECS
	// SSMParameter is the SSM parameter that holds the released AMI id.
	SSMParameter string
}

// Base selects the newest AMI that matches all of its filters.
type Base struct {
	// Owners are the AMI's owners: account ids or the aliases amazon,
	// aws-marketplace, self.
	Owners []string
	// ProductCode is the AWS Marketplace product code, if known.
	ProductCode string
	// NamePattern is an AMI name pattern, with * and ? wildcards.
	NamePattern string
	// Architecture is x86_64 or arm64.
	Architecture string
	// OS is one of the names OSes lists.
	OS string
	// IncludeDeprecated lets the base be a deprecated AMI. EC2 hides
	// deprecated AMIs of other accounts unless asked for them, and the AMIs
	// of an OS past its end of life get deprecated (Amazon Linux 2's end of
	// life was 2026-06-30).
	IncludeDeprecated bool
}

// String is the base's owners and filters on one line, such as
// `aws-marketplace "CIS Amazon Linux 2023 Benchmark - Level 1*"`.
func (b Base) String() string {
	s := strings.Join(b.Owners, ",")
	if b.NamePattern != "" {
		s += fmt.Sprintf(" %q", b.NamePattern)
	}
	if b.ProductCode != "" {
		s += " product-code " + b.ProductCode
	}
	return s
}

// Volume is the root volume of the build instance and of the AMI.
type Volume struct {
	// SizeGB is the volume's size in GiB.
	SizeGB int
	// Type is the EBS volume type.
	Type string
	// Encrypted encrypts the volume and the AMI's snapshots.
	Encrypted bool
	// KMSKeyID is the KMS key in the build region; empty means the
	// region's AWS managed key.
	KMSKeyID string
	// RegionKMSKeyIDs are the KMS keys of the copy regions.
	RegionKMSKeyIDs map[string]string
	// DeviceName is the root device's name; the OS's by default.
	DeviceName string
}

// Share lists who may launch the AMI besides its owner.
type Share struct {
	// Accounts are AWS account ids.
	Accounts []string
	// Organizations are AWS Organizations ARNs.
	Organizations []string
	// OrganizationalUnits are organizational unit ARNs.
	OrganizationalUnits []string
}

// Empty reports whether the AMI is shared with nobody.
func (s Share) Empty() bool {
	return len(s.Accounts)+len(s.Organizations)+len(s.OrganizationalUnits) == 0
}

// ECS holds the options of the ECS agent and its firewall path.
type ECS struct {
	// AgentVersion pins the agent; empty installs the newest.
	AgentVersion string
	// NetworkModes are the task network modes whose credentials path is
	// opened (awsvpc, bridge, host); host-mode tasks get task roles only
	// when host is among them.
	NetworkModes []string
	// AWSVPCBlockIMDS keeps awsvpc tasks away from the instance metadata
	// service.
	AWSVPCBlockIMDS bool
	// Config holds extra ecs.config keys.
	Config map[string]string
	// AllowOverlayfs accepts the deviation from CIS Level 2 "Ensure
	// overlayfs kernel module is not available" (hostscript.Layers).
	AllowOverlayfs bool
}

// Options returns the host script options e stands for, for a build in
// region.
func (e ECS) Options(region string) hostscript.Options {
	return hostscript.Options{
		NetworkModes:    slices.Clone(e.NetworkModes),
		AgentVersion:    e.AgentVersion,
		Region:          region,
		AWSVPCBlockIMDS: e.AWSVPCBlockIMDS,
		ECSConfig:       maps.Clone(e.Config),
	}
}

// OS is what the build needs to know about an operating system.
type OS struct {
	// Name is the name definitions use, such as al2023.
	Name string
	// Title is the name people use, such as Amazon Linux 2023.
	Title string
	// SSHUsername is the login user of the OS's AMIs.
	SSHUsername string
	// RootDevice is the root device name of the OS's AMIs.
	RootDevice string
	// InstallSSMAgent says the OS's CIS AMIs lack the SSM agent, which
	// the build reaches the instance through: the build instance's user
	// data installs it (an rpm; only rpm OSes may set it).
	InstallSSMAgent bool
}

// OSes returns the operating systems a definition may name.
func OSes() []OS {
	return []OS{
		// Amazon Linux and Canonical's Ubuntu AMIs ship the SSM agent
		// (Ubuntu as a snap); Red Hat's RHEL AMIs, and so CIS's, do not.
		{"al2023", "Amazon Linux 2023", "ec2-user", "/dev/xvda", false},
		{"al2", "Amazon Linux 2", "ec2-user", "/dev/xvda", false},
		{"rhel9", "Red Hat Enterprise Linux 9", "ec2-user", "/dev/sda1", true},
		{"rhel8", "Red Hat Enterprise Linux 8", "ec2-user", "/dev/sda1", true},
		{"ubuntu2204", "Ubuntu 22.04 LTS", "ubuntu", "/dev/sda1", false},
		{"ubuntu2404", "Ubuntu 24.04 LTS", "ubuntu", "/dev/sda1", false},
	}
}

// LookupOS returns the OS named name.
func LookupOS(name string) (OS, bool) {
	i := slices.IndexFunc(OSes(), func(o OS) bool { return o.Name == name })
	if i < 0 {
		return OS{}, false
	}
	return OSes()[i], true
}

// Architectures are the CPU architectures a definition may name.
func Architectures() []string { return release.Architectures() }

// Defaults of the settings that have one.
const (
	// DefaultVolumeSizeGB is the root volume's size.
	DefaultVolumeSizeGB = 30
	// DefaultVolumeType is the root volume's type.
	DefaultVolumeType = "gp3"
	// MinVolumeSizeGB and MaxVolumeSizeGB bound the root volume's size.
	MinVolumeSizeGB, MaxVolumeSizeGB = 8, 16384
)

// instanceTypeArchitecture returns the CPU architecture of the EC2
// instance type t (family.size): arm64 for the AWS Graviton families,
// whose attributes after the generation digit hold a "g" (t4g, m7gd,
// c7gn, g5g, im4gn) and for a1; x86_64 for every other.
func instanceTypeArchitecture(t string) string {
	family, _, _ := strings.Cut(t, ".")
	if family == "a1" {
		return "arm64"
	}
	if i := strings.IndexAny(family, "0123456789"); i >= 0 && strings.Contains(family[i+1:], "g") {
		return "arm64"
	}
	return "x86_64"
}

// DefaultSSMParameter returns the SSM parameter that holds the released
// AMI id of the image name.
func DefaultSSMParameter(name string) string {
	return "/cisecs/" + name + "/ami-id"
}

// DefaultDescription returns the AMI description of img when it sets none.
func DefaultDescription(img Image) string {
	title := img.Base.OS
	if o, ok := LookupOS(img.Base.OS); ok {
		title = o.Title
	}
	return "cisecs " + img.Name + ": Amazon ECS host on CIS-hardened " + title + " (" + img.Base.Architecture + ")"
}

// ValidName reports whether name can name an image: 1 to 64 lower-case
// letters, digits and hyphens, starting and ending with a letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }
