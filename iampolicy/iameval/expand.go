package iameval

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Request is one API request as it was sent: the service and operation,
// where, by whom, and its parameters. EC2 and IAM speak the AWS query
// protocol (Query); SSM and ECS speak JSON (JSON).
type Request struct {
	// Service is the signing name: ec2, iam, ssm, ecs or sts.
	Service   string
	Operation string
	// Region and Account are where the request goes (IAM has no
	// region: its ARNs leave it empty whatever Region says).
	Region, Account string
	Query           url.Values
	JSON            map[string]any
	// Caller holds the caller's global condition keys (aws:userid,
	// aws:PrincipalArn, ...), put in every check's context.
	Caller map[string][]string
}

// State is what IAM looks at, as the resources stand when the request
// arrives. Every method answers for the request's region and account.
type State interface {
	// Tags are the tags of the resource arn; nil when it has none or
	// does not exist.
	Tags(arn string) map[string]string
	// SubnetVPC is the VPC of a subnet.
	SubnetVPC(subnet string) (vpc string, ok bool)
	// DefaultVPC is the region's default VPC and the default subnet EC2
	// launches into when a request names none.
	DefaultVPC() (vpc, subnet string, ok bool)
	// DefaultSecurityGroup is the security group named "default" of vpc.
	DefaultSecurityGroup(vpc string) (group string, ok bool)
	// ProfileRole is the ARN of the role in the instance profile name.
	ProfileRole(profile string) (roleARN string, ok bool)
	// Role is the ARN of the role name (its path included); false when
	// no such role exists.
	Role(name string) (arn string, ok bool)
	// ImageOwner is the owner of an AMI as ec2:Owner gives it: an
	// account id, "amazon" or "aws-marketplace".
	ImageOwner(image string) (owner string, ok bool)
	// KeyPairName is the name of the key pair id (key-...): its ARN holds
	// the name.
	KeyPairName(id string) (name string, ok bool)
}

// Expand turns one request into every check IAM makes for it, in a fixed
// order. An operation without a model is an error, so that a new call
// cannot pass unchecked. What each operation is authorized on follows
// the Service Authorization Reference ("Actions, resources, and condition
// keys for Amazon EC2", "... for AWS Identity and Access Management",
// "... for AWS Systems Manager", "... for Amazon Elastic Container
// Service"); see the doc comment of each model for what it leaves out.
func Expand(r Request, s State) ([]Check, error) {
	e := &expander{r: r, s: s}
	var err error
	switch r.Service {
	case "sts":
		if r.Operation != "GetCallerIdentity" {
			return nil, e.unmodelled()
		}
		// GetCallerIdentity needs no permission, and an explicit deny
		// does not stop it (STS API Reference, GetCallerIdentity).
		return nil, nil
	case "ec2":
		err = e.ec2()
	case "iam":
		err = e.iam()
	case "ssm":
		err = e.ssm()
	case "ecs":
		err = e.ecs()
	default:
		return nil, fmt.Errorf("request %q of service %q: no IAM model for the service", r.Operation, r.Service)
	}
	if err != nil {
		return nil, err
	}
	return e.checks, nil
}

// expander gathers the checks of one request.
type expander struct {
	r      Request
	s      State
	checks []Check
}

func (e *expander) unmodelled() error {
	return fmt.Errorf("no IAM model for %s:%s", e.r.Service, e.r.Operation)
}

// ctx is a condition context: keys to values.
type ctx = map[string][]string

// add records a check of service:action on resource, with the caller's
// keys, aws:RequestedRegion and the contexts given.
func (e *expander) add(action, resource string, parts ...ctx) {
	c := ctx{}
	for k, v := range e.r.Caller {
		c[k] = v
	}
	if e.r.Region != "" {
		c["aws:RequestedRegion"] = []string{e.r.Region}
	}
	for _, p := range parts {
		for k, v := range p {
			c[k] = v
		}
	}
	e.checks = append(e.checks, Check{Action: action, Resource: resource, Context: c})
}

// partition is the ARN partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

func (e *expander) arn(service, region, account, resource string) string {
	return fmt.Sprintf("arn:%s:%s:%s:%s:%s", partition(e.r.Region), service, region, account, resource)
}

// requestTags is the context of tags a request sets: aws:RequestTag/K and
// aws:TagKeys. Nothing when there are none.
func requestTags(tags map[string]string) ctx {
	if len(tags) == 0 {
		return nil
	}
	c := ctx{"aws:TagKeys": sortedKeys(tags)}
	for k, v := range tags {
		c["aws:RequestTag/"+k] = []string{v}
	}
	return c
}

// resourceTags is the context of the tags the resource carries, under
// each prefix given (aws:ResourceTag/, ec2:ResourceTag/, ssm:resourceTag/).
func (e *expander) resourceTags(arn string, prefixes ...string) ctx {
	tags := e.s.Tags(arn)
	if len(tags) == 0 {
		return nil
	}
	c := ctx{}
	for k, v := range tags {
		for _, p := range prefixes {
			c[p+k] = []string{v}
		}
	}
	return c
}

func one(k, v string) ctx { return ctx{k: {v}} }

// Query helpers.

// indexed reads the query list prefix.1, prefix.2, ...
func indexed(q url.Values, prefix string) []string {
	var out []string
	for n := 1; ; n++ {
		v, ok := q[prefix+"."+strconv.Itoa(n)]
		if !ok {
			return out
		}
		out = append(out, first(v))
	}
}

// indices are the N of prefix.N.* present in q, in order.
func indices(q url.Values, prefix string) []int {
	seen := map[int]bool{}
	for k := range q {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		if i, err := strconv.Atoi(n); err == nil {
			seen[i] = true
		}
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// queryTags reads prefix.N.Key and prefix.N.Value (EC2's Tag.N, IAM's
// Tags.member.N).
func queryTags(q url.Values, prefix string) map[string]string {
	tags := map[string]string{}
	for _, n := range indices(q, prefix) {
		p := fmt.Sprintf("%s.%d.", prefix, n)
		if k := q.Get(p + "Key"); k != "" {
			tags[k] = q.Get(p + "Value")
		}
	}
	return tags
}

// tagSpecs reads EC2's TagSpecification.N: resource type -> tags.
func tagSpecs(q url.Values) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, n := range indices(q, "TagSpecification") {
		p := fmt.Sprintf("TagSpecification.%d.", n)
		rt := q.Get(p + "ResourceType")
		if out[rt] == nil {
			out[rt] = map[string]string{}
		}
		for k, v := range queryTags(q, p+"Tag") {
			out[rt][k] = v
		}
	}
	return out
}

// JSON helpers.

func str(m map[string]any, key string) string {
	v, _ := m[key].(string)
	return v
}

func strs(m map[string]any, key string) []string {
	var out []string
	l, _ := m[key].([]any)
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// jsonTags reads a JSON tag list, [{"key": k, "value": v}] (ECS) or
// [{"Key": k, "Value": v}] (SSM).
func jsonTags(m map[string]any, field, keyName, valueName string) map[string]string {
	tags := map[string]string{}
	l, _ := m[field].([]any)
	for _, t := range l {
		if o, ok := t.(map[string]any); ok && str(o, keyName) != "" {
			tags[str(o, keyName)] = str(o, valueName)
		}
	}
	return tags
}
