package iameval

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// EC2 tag condition prefixes: EC2 evaluates both.
const (
	awsResourceTag = "aws:ResourceTag/"
	ec2ResourceTag = "ec2:ResourceTag/"
)

// ec2ARN is the ARN of an EC2 resource of type kind and id in the
// request's region and account. AMIs and snapshots have no account in
// their ARNs (arn:aws:ec2:REGION::image/ami-..., ...::snapshot/snap-...),
// as the EC2 Service Authorization Reference gives them; a resource being
// created has the id "*".
func (e *expander) ec2ARN(kind, id string) string {
	account := e.r.Account
	if kind == "image" || kind == "snapshot" {
		account = ""
	}
	return e.arn("ec2", e.r.Region, account, kind+"/"+id)
}

// ec2Kind is the resource type of an EC2 id, by its prefix.
func ec2Kind(id string) (string, bool) {
	for _, k := range []struct{ prefix, kind string }{
		{"i-", "instance"}, {"vol-", "volume"}, {"eni-", "network-interface"}, {"sg-", "security-group"},
		{"ami-", "image"}, {"snap-", "snapshot"}, {"subnet-", "subnet"}, {"vpc-", "vpc"},
	} {
		if strings.HasPrefix(id, k.prefix) {
			return k.kind, true
		}
	}
	return "", false
}

// existing is a check on an existing EC2 resource: its tags as they
// stand.
func (e *expander) existing(action, arn string, parts ...ctx) {
	e.add(action, arn, append([]ctx{e.resourceTags(arn, awsResourceTag, ec2ResourceTag)}, parts...)...)
}

// created is the pair of checks for a resource an operation creates with
// tags: the operation on it with the request's tags and, when there are
// tags, ec2:CreateTags on it with ec2:CreateAction (tagging on creation,
// EC2 User Guide "Grant permission to tag resources during creation").
func (e *expander) created(arn string, tags map[string]string, parts ...ctx) {
	action := "ec2:" + e.r.Operation
	e.add(action, arn, append([]ctx{requestTags(tags)}, parts...)...)
	if len(tags) > 0 {
		e.add("ec2:CreateTags", arn, requestTags(tags), one("ec2:CreateAction", e.r.Operation))
	}
}

func (e *expander) ec2() error {
	q, op := e.r.Query, e.r.Operation
	action := "ec2:" + op
	each := func(prefix, kind string) error {
		ids := indexed(q, prefix)
		if len(ids) == 0 {
			return fmt.Errorf("ec2:%s: no %s", op, prefix)
		}
		for _, id := range ids {
			e.existing(action, e.ec2ARN(kind, id))
		}
		return nil
	}
	switch op {
	case "RunInstances":
		return e.runInstances()
	case "CreateTags":
		return e.createTags()
	case "CreateSecurityGroup":
		vpc := q.Get("VpcId")
		if vpc == "" {
			var ok bool
			if vpc, _, ok = e.s.DefaultVPC(); !ok {
				return fmt.Errorf("ec2:CreateSecurityGroup %q: no VpcId and no default VPC", q.Get("GroupName"))
			}
		}
		vpcARN := e.ec2ARN("vpc", vpc)
		e.created(e.ec2ARN("security-group", "*"), tagSpecs(q)["security-group"], one("ec2:Vpc", vpcARN))
		e.existing(action, vpcARN, one("ec2:Vpc", vpcARN))
	case "CreateKeyPair":
		if q.Get("KeyName") == "" {
			return fmt.Errorf("ec2:CreateKeyPair: no KeyName")
		}
		e.created(e.ec2ARN("key-pair", q.Get("KeyName")), tagSpecs(q)["key-pair"], keyType(q))
	case "DeleteKeyPair":
		name := q.Get("KeyName")
		if name == "" {
			// The ARN names the key pair, not its id.
			var ok bool
			if name, ok = e.s.KeyPairName(q.Get("KeyPairId")); !ok {
				return fmt.Errorf("ec2:DeleteKeyPair: key pair id %q: no such key pair", q.Get("KeyPairId"))
			}
		}
		e.existing(action, e.ec2ARN("key-pair", name))
	case "DeleteSecurityGroup":
		id := q.Get("GroupId")
		if id == "" {
			return fmt.Errorf("ec2:DeleteSecurityGroup by name %q: no IAM model (the ARN holds the group's id)", q.Get("GroupName"))
		}
		e.existing(action, e.ec2ARN("security-group", id))
	case "StopInstances", "TerminateInstances", "RebootInstances", "StartInstances":
		return each("InstanceId", "instance")
	case "CreateImage":
		id := q.Get("InstanceId")
		if id == "" {
			return fmt.Errorf("ec2:CreateImage: no InstanceId")
		}
		specs := tagSpecs(q)
		e.existing(action, e.ec2ARN("instance", id))
		e.created(e.ec2ARN("image", "*"), specs["image"])
		e.created(e.ec2ARN("snapshot", "*"), specs["snapshot"])
	case "CopyImage":
		// In the destination region: the new AMI and its snapshots, and
		// the source AMI as it stands in its own region.
		src := q.Get("SourceImageId")
		if src == "" || q.Get("SourceRegion") == "" {
			return fmt.Errorf("ec2:CopyImage: no SourceImageId or SourceRegion")
		}
		specs := tagSpecs(q)
		e.created(e.ec2ARN("image", "*"), specs["image"], encrypted(q.Get("Encrypted")))
		e.created(e.ec2ARN("snapshot", "*"), specs["snapshot"], encrypted(q.Get("Encrypted")))
		srcARN := e.arn("ec2", q.Get("SourceRegion"), "", "image/"+src)
		e.existing(action, srcARN)
	case "DeregisterImage", "ModifyImageAttribute", "ResetImageAttribute":
		return one1(q, "ImageId", op, func(id string) { e.existing(action, e.ec2ARN("image", id)) })
	case "DeleteSnapshot":
		return one1(q, "SnapshotId", op, func(id string) { e.existing(action, e.ec2ARN("snapshot", id)) })
	case "DeleteVolume":
		return one1(q, "VolumeId", op, func(id string) { e.existing(action, e.ec2ARN("volume", id)) })
	case "DeleteNetworkInterface":
		return one1(q, "NetworkInterfaceId", op, func(id string) { e.existing(action, e.ec2ARN("network-interface", id)) })
	default:
		if !strings.HasPrefix(op, "Describe") {
			return e.unmodelled()
		}
		// Describe* have no resource-level permissions: Resource "*".
		e.add(action, "*")
	}
	return nil
}

func one1(q url.Values, param, op string, f func(string)) error {
	v := q.Get(param)
	if v == "" {
		return fmt.Errorf("ec2:%s: no %s", op, param)
	}
	f(v)
	return nil
}

func keyType(q url.Values) ctx {
	if t := q.Get("KeyType"); t != "" {
		return one("ec2:KeyPairType", t)
	}
	return nil
}

func encrypted(v string) ctx {
	if v == "" {
		return nil
	}
	return one("ec2:Encrypted", strings.ToLower(v))
}

// createTags checks tagging existing resources: ec2:CreateTags on each,
// with its tags as they stand (aws:ResourceTag) and the request's
// (aws:RequestTag, aws:TagKeys); no ec2:CreateAction, which only tagging
// on creation has.
func (e *expander) createTags() error {
	ids := indexed(e.r.Query, "ResourceId")
	if len(ids) == 0 {
		return fmt.Errorf("ec2:CreateTags: no ResourceId")
	}
	tags := queryTags(e.r.Query, "Tag")
	for _, id := range ids {
		kind, ok := ec2Kind(id)
		if !ok {
			return fmt.Errorf("ec2:CreateTags on %q: no IAM model for that resource type", id)
		}
		e.existing("ec2:CreateTags", e.ec2ARN(kind, id), requestTags(tags))
	}
	return nil
}

// runInstances checks RunInstances as the EC2 User Guide ("Launch
// instances (RunInstances)" in the IAM policy examples) lays it out:
// ec2:RunInstances on the AMI, the instance, every EBS volume, every
// network interface, each security group (the VPC's default group when
// the request names none), the subnet (the default VPC's default subnet
// when none is named) and the key pair; tags given in TagSpecifications
// as aws:RequestTag on the resources of their type, with an ec2:CreateTags
// check (ec2:CreateAction=RunInstances) for each; and iam:PassRole on the
// instance profile's role, to ec2.amazonaws.com. A DryRun is authorized
// the same way.
//
// A CapacityReservationPreference of none or open (Packer sends none)
// names no reservation and adds no check.
//
// Not modelled: launch templates, Elastic GPUs and inference
// accelerators, capacity reservation targets, placement groups, and
// security groups given by name (SecurityGroup.N): each is an error.
func (e *expander) runInstances() error {
	q := e.r.Query
	const action = "ec2:RunInstances"
	for _, p := range []string{"LaunchTemplate", "SecurityGroup", "ElasticGpuSpecification", "ElasticInferenceAccelerator", "CapacityReservationSpecification", "Placement.GroupName"} {
		for k := range q {
			if k == "CapacityReservationSpecification.CapacityReservationPreference" && (q.Get(k) == "none" || q.Get(k) == "open") {
				continue
			}
			if k == p || strings.HasPrefix(k, p+".") {
				return fmt.Errorf("ec2:RunInstances with %s: no IAM model for it", p)
			}
		}
	}
	image := q.Get("ImageId")
	if image == "" {
		return fmt.Errorf("ec2:RunInstances: no ImageId")
	}
	specs := tagSpecs(q)
	for rt := range specs {
		if !slices.Contains([]string{"instance", "volume", "network-interface"}, rt) {
			return fmt.Errorf("ec2:RunInstances: tags for %q: no IAM model for them", rt)
		}
	}

	// The network: a subnet and groups given on the request, on its
	// first network interface, or the defaults.
	subnet, groups := q.Get("SubnetId"), indexed(q, "SecurityGroupId")
	nics := indices(q, "NetworkInterface")
	for _, n := range nics {
		p := fmt.Sprintf("NetworkInterface.%d.", n)
		if subnet == "" {
			subnet = q.Get(p + "SubnetId")
		}
		groups = append(groups, indexed(q, p+"SecurityGroupId")...)
	}
	var vpc string
	if subnet == "" {
		var ok bool
		if vpc, subnet, ok = e.s.DefaultVPC(); !ok {
			return fmt.Errorf("ec2:RunInstances of %q: no subnet given and no default VPC", image)
		}
	} else {
		var ok bool
		if vpc, ok = e.s.SubnetVPC(subnet); !ok {
			return fmt.Errorf("ec2:RunInstances of %q: subnet %q: its VPC is unknown", image, subnet)
		}
	}
	if len(groups) == 0 {
		g, ok := e.s.DefaultSecurityGroup(vpc)
		if !ok {
			return fmt.Errorf("ec2:RunInstances of %q: no security group given and VPC %q has no default one", image, vpc)
		}
		groups = []string{g}
	}
	vpcARN, subnetARN := e.ec2ARN("vpc", vpc), e.ec2ARN("subnet", subnet)
	network := ctx{"ec2:Vpc": {vpcARN}, "ec2:Subnet": {subnetARN}}

	// The AMI.
	imageARN := e.ec2ARN("image", image)
	var owner ctx
	if o, ok := e.s.ImageOwner(image); ok {
		owner = one("ec2:Owner", o)
	}
	e.existing(action, imageARN, owner)

	// The instance.
	inst := ctx{}
	if t := q.Get("InstanceType"); t != "" {
		inst["ec2:InstanceType"] = []string{t}
	}
	for param, key := range map[string]string{
		"MetadataOptions.HttpTokens":              "ec2:MetadataHttpTokens",
		"MetadataOptions.HttpPutResponseHopLimit": "ec2:MetadataHttpPutResponseHopLimit",
		"MetadataOptions.HttpEndpoint":            "ec2:MetadataHttpEndpoint",
	} {
		if v := q.Get(param); v != "" {
			inst[key] = []string{v}
		}
	}
	profile := q.Get("IamInstanceProfile.Name")
	if a := q.Get("IamInstanceProfile.Arn"); a != "" {
		inst["ec2:InstanceProfile"] = []string{a}
		profile = a[strings.LastIndex(a, "/")+1:]
	} else if profile != "" {
		inst["ec2:InstanceProfile"] = []string{e.arn("iam", "", e.r.Account, "instance-profile/"+profile)}
	}
	e.created(e.ec2ARN("instance", "*"), specs["instance"], inst)

	// The volumes: one per EBS block device mapping, the root volume at
	// least.
	var vols []ctx
	for _, n := range indices(q, "BlockDeviceMapping") {
		p := fmt.Sprintf("BlockDeviceMapping.%d.", n)
		if q.Get(p+"NoDevice") != "" || q.Get(p+"VirtualName") != "" {
			continue
		}
		vols = append(vols, encrypted(q.Get(p+"Ebs.Encrypted")))
	}
	if len(vols) == 0 {
		vols = []ctx{nil}
	}
	for _, v := range vols {
		e.created(e.ec2ARN("volume", "*"), specs["volume"], v)
	}

	// The network interfaces (one, the primary, when none is given), the
	// security groups, the subnet.
	for range max(1, len(nics)) {
		e.created(e.ec2ARN("network-interface", "*"), specs["network-interface"], network)
	}
	for _, g := range groups {
		e.existing(action, e.ec2ARN("security-group", g), one("ec2:Vpc", vpcARN))
	}
	e.existing(action, subnetARN, network)
	if k := q.Get("KeyName"); k != "" {
		e.existing(action, e.ec2ARN("key-pair", k))
	}

	if profile != "" {
		role, ok := e.s.ProfileRole(profile)
		if !ok {
			return fmt.Errorf("ec2:RunInstances of %q: instance profile %q: its role is unknown", image, profile)
		}
		e.add("iam:PassRole", role, ctx{
			"iam:PassedToService":       {"ec2.amazonaws.com"},
			"iam:AssociatedResourceARN": {e.ec2ARN("instance", "*")},
		})
	}
	return nil
}
