package awssim

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// Authorization is one request as IAM sees it when it arrives: what was
// asked, by which service's signature, and the resources as they stand
// before the front answers it (Options.Authorize).
type Authorization struct {
	Request
	// Service and Region are the signature's scope (ec2, ecs, ssm, iam,
	// sts; us-east-1).
	Service, Region string
	// Account is the account the front plays (Account).
	Account string
	// State is the front's resources as they stand. It reads them
	// without locking: use it only during the call to Options.Authorize.
	State *Resources
}

// Resources answer, for an Authorization, what IAM looks at on the
// resources a request names: their tags, the VPC of a subnet, the owner
// of an AMI. They satisfy iameval.State.
type Resources struct {
	s   *Server
	ctx context.Context
}

// authorize calls Options.Authorize for c, if set. s.mu is held.
func (s *Server) authorize(c *call) {
	if s.o.Authorize == nil {
		return
	}
	scope := signatureScope(c.r.Header.Get("Authorization"))
	s.o.Authorize(Authorization{
		Request: Request{Op: c.op, Time: c.now, Form: c.form, JSON: c.json},
		Service: scope.service, Region: scope.region, Account: Account,
		State: &Resources{s: s, ctx: c.r.Context()},
	})
}

type scope struct{ region, service string }

// signatureScope reads Credential=AKID/date/region/service/aws4_request.
func signatureScope(auth string) scope {
	_, cred, _ := strings.Cut(auth, "Credential=")
	if parts := strings.Split(strings.SplitN(cred, ",", 2)[0], "/"); len(parts) == 5 {
		return scope{region: parts[2], service: parts[3]}
	}
	return scope{}
}

// Tags are the tags of the resource arn as the front holds them: EC2
// instances, network interfaces and AMIs, ECS clusters (from kumo), tasks
// and task definitions. nil for anything else, and for what does not
// exist.
func (r *Resources) Tags(arn string) map[string]string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 {
		return nil
	}
	kind, id, _ := strings.Cut(parts[5], "/")
	s := r.s
	switch parts[2] + ":" + kind {
	case "ec2:instance":
		if i := s.instances[id]; i != nil {
			return i.tags
		}
	case "ec2:network-interface":
		if n := s.enis[id]; n != nil && !n.deleted {
			return n.tags
		}
	case "ec2:image":
		if img := s.images[id]; img != nil {
			return img.Tags
		}
	case "ecs:cluster":
		out, err := s.kecs.DescribeClusters(r.ctx, &ecs.DescribeClustersInput{
			Clusters: []string{id}, Include: []ecstypes.ClusterField{ecstypes.ClusterFieldTags},
		})
		if err != nil || len(out.Clusters) != 1 || aws.ToString(out.Clusters[0].Status) != "ACTIVE" {
			return nil
		}
		tags := map[string]string{}
		for _, t := range out.Clusters[0].Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		return tags
	case "ecs:task":
		if t := s.tasks[arn]; t != nil {
			return t.tags
		}
	case "ecs:task-definition":
		if td := s.taskDefs[arn]; td != nil {
			return td.Tags
		}
	}
	return nil
}

// SubnetVPC is the VPC of a subnet among Options.Networks.
func (r *Resources) SubnetVPC(subnet string) (string, bool) {
	for _, n := range r.s.networks {
		if n.Subnet == subnet {
			return n.VPC, true
		}
	}
	return "", false
}

// DefaultVPC: the front plays no default VPC.
func (r *Resources) DefaultVPC() (vpc, subnet string, ok bool) { return "", "", false }

// DefaultSecurityGroup: the front plays no security groups.
func (r *Resources) DefaultSecurityGroup(vpc string) (string, bool) { return "", false }

// ProfileRole: the front knows instance profiles by name only, not their
// roles.
func (r *Resources) ProfileRole(profile string) (string, bool) { return "", false }

// Role is the ARN of a role the front knows: the ECS service-linked
// role, under its path, whether or not it exists yet (IAM reserves its
// name and path).
func (r *Resources) Role(name string) (string, bool) {
	if name == ECSServiceLinkedRoleName {
		return "arn:aws:iam::" + Account + ":role" + ECSServiceLinkedRolePath + name, true
	}
	return "", false
}

// KeyPairName: the front holds no key pairs of its own (a build's are
// BuildResources').
func (r *Resources) KeyPairName(id string) (string, bool) { return "", false }

// ImageOwner is an AMI's owner as ec2:Owner gives it: its alias if it has
// one, else its account.
func (r *Resources) ImageOwner(image string) (string, bool) {
	img := r.s.images[image]
	if img == nil {
		return "", false
	}
	if img.OwnerAlias != "" {
		return img.OwnerAlias, true
	}
	return img.Owner, true
}
