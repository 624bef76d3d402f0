package iameval

import (
	"fmt"
	"strings"
)

// serviceLinkedRole names the role CreateServiceLinkedRole makes for a
// service (IAM User Guide, "AWS services that work with IAM"); false for
// a service not modelled.
func serviceLinkedRole(svc string) (string, bool) {
	switch svc {
	case "ecs.amazonaws.com":
		return "AWSServiceRoleForECS", true
	case "spot.amazonaws.com":
		return "AWSServiceRoleForEC2Spot", true
	case "ssm.amazonaws.com":
		return "AWSServiceRoleForAmazonSSM", true
	}
	return "", false
}

// roleARN is the ARN of the role name: as it stands, or, for a role that
// does not exist, under the path given (default "/").
func (e *expander) roleARN(name, path string) string {
	if a, ok := e.s.Role(name); ok {
		return a
	}
	if path == "" {
		path = "/"
	}
	return e.arn("iam", "", e.r.Account, "role"+path+name)
}

func (e *expander) profileARN(name, path string) string {
	if path == "" {
		path = "/"
	}
	return e.arn("iam", "", e.r.Account, "instance-profile"+path+name)
}

// iam checks IAM's operations. IAM ARNs have no region. Creating with
// tags also needs iam:TagRole or iam:TagInstanceProfile (IAM User Guide,
// "Permissions required for tagging IAM entities"); adding a role to an
// instance profile also needs iam:PassRole on the role (with no
// iam:PassedToService: no service is being given the role yet).
func (e *expander) iam() error {
	q, op := e.r.Query, e.r.Operation
	action := "iam:" + op
	role, profile := q.Get("RoleName"), q.Get("InstanceProfileName")
	need := func(what, v string) error {
		if v == "" {
			return fmt.Errorf("iam:%s: no %s", op, what)
		}
		return nil
	}
	existingRole := func() {
		a := e.roleARN(role, "")
		e.add(action, a, e.resourceTags(a, awsResourceTag, "iam:ResourceTag/"))
	}
	existingProfile := func() {
		a := e.profileARN(profile, "")
		e.add(action, a, e.resourceTags(a, awsResourceTag, "iam:ResourceTag/"))
	}
	tags := queryTags(q, "Tags.member")
	switch op {
	case "GetRole", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole", "GetRolePolicy", "ListRolePolicies", "ListAttachedRolePolicies":
		if err := need("RoleName", role); err != nil {
			return err
		}
		existingRole()
	case "GetInstanceProfile", "DeleteInstanceProfile", "RemoveRoleFromInstanceProfile":
		if err := need("InstanceProfileName", profile); err != nil {
			return err
		}
		existingProfile()
	case "AddRoleToInstanceProfile":
		if err := need("InstanceProfileName", profile); err != nil {
			return err
		}
		if err := need("RoleName", role); err != nil {
			return err
		}
		existingProfile()
		e.add("iam:PassRole", e.roleARN(role, ""))
	case "CreateRole":
		if err := need("RoleName", role); err != nil {
			return err
		}
		a := e.arn("iam", "", e.r.Account, "role"+pathOr(q.Get("Path"))+role)
		e.add(action, a, requestTags(tags))
		if len(tags) > 0 {
			e.add("iam:TagRole", a, requestTags(tags))
		}
	case "CreateInstanceProfile":
		if err := need("InstanceProfileName", profile); err != nil {
			return err
		}
		a := e.profileARN(profile, q.Get("Path"))
		e.add(action, a, requestTags(tags))
		if len(tags) > 0 {
			e.add("iam:TagInstanceProfile", a, requestTags(tags))
		}
	case "TagRole":
		a := e.roleARN(role, "")
		e.add(action, a, e.resourceTags(a, awsResourceTag, "iam:ResourceTag/"), requestTags(tags))
	case "TagInstanceProfile":
		a := e.profileARN(profile, "")
		e.add(action, a, e.resourceTags(a, awsResourceTag, "iam:ResourceTag/"), requestTags(tags))
	case "CreateServiceLinkedRole":
		svc := q.Get("AWSServiceName")
		name, ok := serviceLinkedRole(svc)
		if !ok {
			return fmt.Errorf("iam:CreateServiceLinkedRole for %q: no IAM model for that service's role", svc)
		}
		if sfx := q.Get("CustomSuffix"); sfx != "" {
			name += "_" + sfx
		}
		e.add(action, e.arn("iam", "", e.r.Account, "role/aws-service-role/"+svc+"/"+name), one("iam:AWSServiceName", svc))
	default:
		return e.unmodelled()
	}
	return nil
}

func pathOr(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.HasSuffix(p, "/") {
		p += "/"
	}
	return p
}
