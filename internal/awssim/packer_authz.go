package awssim

import "strings"

// BuildResources answer, for an Authorization during a Packer build
// (Options.Boot), what IAM looks at on the build's resources as well as on
// the front's others: the tags of build instances, volumes, snapshots,
// security groups and key pairs, the account's VPCs and default VPC, the
// roles of instance profiles. Like Resources, it reads without locking:
// use it only during the call to Options.Authorize.
type BuildResources struct{ *Resources }

func (r BuildResources) build() *buildState { return r.s.buildOf() }

// Tags are the tags of a build resource, else the front's (Resources.Tags).
func (r BuildResources) Tags(arn string) map[string]string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[2] == "ec2" {
		kind, id, _ := strings.Cut(parts[5], "/")
		b := r.build()
		switch kind {
		case "instance":
			if i := b.instances[id]; i != nil {
				return i.tags
			}
		case "volume":
			if v := b.volumes[id]; v != nil {
				return v.tags
			}
		case "snapshot":
			if sn := b.snapshots[id]; sn != nil {
				return sn.tags
			}
		case "security-group":
			if g := b.groups[id]; g != nil {
				return g.tags
			}
		case "key-pair":
			if kp := b.keyPairs[id]; kp != nil {
				return kp.tags
			}
		}
	}
	return r.Resources.Tags(arn)
}

// KeyPairName is the name of a build's key pair, by its id.
func (r BuildResources) KeyPairName(id string) (string, bool) {
	for name, kp := range r.build().keyPairs {
		if kp.id == id {
			return name, true
		}
	}
	return "", false
}

// SubnetVPC is the VPC of one of the account's subnets.
func (r BuildResources) SubnetVPC(subnet string) (string, bool) {
	if n, ok := r.s.subnet(subnet); ok {
		return n.vpc, true
	}
	return r.Resources.SubnetVPC(subnet)
}

// DefaultVPC is the account's default VPC and subnet, unless
// Options.NoDefaultVPC.
func (r BuildResources) DefaultVPC() (vpc, subnet string, ok bool) {
	if r.s.o.NoDefaultVPC {
		return "", "", false
	}
	return DefaultVPC, DefaultSubnet, true
}

// DefaultSecurityGroup is the "default" group of one of the account's VPCs
// (the front does not list it: a build never uses it).
func (r BuildResources) DefaultSecurityGroup(vpc string) (string, bool) {
	for _, n := range r.s.subnets() {
		if n.vpc == vpc {
			return "sg-" + strings.TrimPrefix(vpc, "vpc-"), true
		}
	}
	return "", false
}

// ProfileRole is the ARN of the role in an instance profile.
func (r BuildResources) ProfileRole(profile string) (string, bool) {
	b := r.build()
	if p := b.profiles[profile]; p != nil && len(p.roles) > 0 {
		if role := b.roles[p.roles[0]]; role != nil {
			return role.arn(), true
		}
	}
	return r.Resources.ProfileRole(profile)
}

// Role is the ARN of a role the build's IAM knows, else the front's.
func (r BuildResources) Role(name string) (string, bool) {
	if role := r.build().roles[name]; role != nil {
		return role.arn(), true
	}
	return r.Resources.Role(name)
}
