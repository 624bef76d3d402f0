package awssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/cisecs/cisecs/release"
)

type instanceProfile struct {
	name, id, path string
	roles          []string
	created        time.Time
	own            bool // the account's, not made by a build
}

func (p *instanceProfile) arn() string {
	return "arn:aws:iam::" + Account + ":instance-profile" + p.path + p.name
}

type iamRoleState struct {
	name, id, path, trust string
	policies              map[string]string // inline, by name
	created               time.Time
	own                   bool
}

func (r *iamRoleState) arn() string { return "arn:aws:iam::" + Account + ":role" + r.path + r.name }

// defaultIAM makes the account's own build profile and role. s.mu is held.
func (s *Server) defaultIAM() {
	b := s.build
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.roles[release.BuildInstanceProfile] = &iamRoleState{name: release.BuildInstanceProfile, id: "AROAAWSSIMBUILD", path: "/", policies: map[string]string{}, created: t, own: true,
		trust: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`}
	b.profiles[release.BuildInstanceProfile] = &instanceProfile{name: release.BuildInstanceProfile, id: "AIPAAWSSIMBUILD", path: "/", roles: []string{release.BuildInstanceProfile}, created: t, own: true}
}

// RemoveInstanceProfile deletes the instance profile name (a test's way
// of playing an account that lacks it).
func (s *Server) RemoveInstanceProfile(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.buildOf().profiles, name)
}

// IAM's XML shapes.
type (
	xmlIAMRole struct {
		Path       string `xml:"Path"`
		RoleName   string `xml:"RoleName"`
		RoleID     string `xml:"RoleId"`
		Arn        string `xml:"Arn"`
		CreateDate string `xml:"CreateDate"`
		Trust      string `xml:"AssumeRolePolicyDocument,omitempty"`
	}
	xmlIAMProfile struct {
		Path       string       `xml:"Path"`
		Name       string       `xml:"InstanceProfileName"`
		ID         string       `xml:"InstanceProfileId"`
		Arn        string       `xml:"Arn"`
		CreateDate string       `xml:"CreateDate"`
		Roles      []xmlIAMRole `xml:"Roles>member"`
	}
)

func (r *iamRoleState) xml() xmlIAMRole {
	return xmlIAMRole{r.path, r.name, r.id, r.arn(), iso(r.created), url.QueryEscape(r.trust)}
}

func (s *Server) xmlProfile(p *instanceProfile) xmlIAMProfile {
	b := s.buildOf()
	x := xmlIAMProfile{p.path, p.name, p.id, p.arn(), iso(p.created), nil}
	for _, r := range p.roles {
		if role, ok := b.roles[r]; ok {
			x.Roles = append(x.Roles, role.xml())
		}
	}
	return x
}

// iamResponse wraps result in IAM's envelope: <OpResponse><OpResult>...
func iamResponse(op string, result any) reply {
	type meta struct {
		RequestID string `xml:"RequestId"`
	}
	body := ""
	if result != nil {
		b, err := xml.Marshal(result)
		if err != nil {
			return errorReply(iamProtocol, http.StatusInternalServerError, "ServiceFailure", err.Error())
		}
		body = "<" + op + "Result>" + inner(b) + "</" + op + "Result>"
	}
	return reply{status: http.StatusOK, ctype: "text/xml", body: []byte(xml.Header +
		"<" + op + `Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">` + body +
		"<ResponseMetadata><RequestId>awssim</RequestId></ResponseMetadata></" + op + "Response>")}
}

func noSuchEntity(msg string) reply {
	return errorReply(iamProtocol, http.StatusNotFound, "NoSuchEntity", msg)
}

func deleteConflict(msg string) reply {
	return errorReply(iamProtocol, http.StatusConflict, "DeleteConflict", msg)
}

func entityExists(msg string) reply {
	return errorReply(iamProtocol, http.StatusConflict, "EntityAlreadyExists", msg)
}

// answerBuildIAM plays the IAM of a build's instance profile: the
// account's own (release.BuildInstanceProfile) and the temporary one Packer makes
// for temporary_iam_instance_profile_policy_document. s.mu is held.
func (s *Server) answerBuildIAM(c *call) (reply, bool) {
	if c.proto != iamProtocol {
		return reply{}, false
	}
	b := s.buildOf()
	f := c.form
	type wrap struct {
		XMLName xml.Name `xml:"r"`
		Profile any      `xml:"InstanceProfile,omitempty"`
		Role    any      `xml:"Role,omitempty"`
	}
	profile := func(name string) (*instanceProfile, reply, bool) {
		p, ok := b.profiles[name]
		if !ok {
			return nil, noSuchEntity(fmt.Sprintf("Instance Profile %s cannot be found.", name)), false
		}
		return p, reply{}, true
	}
	role := func(name string) (*iamRoleState, reply, bool) {
		r, ok := b.roles[name]
		if !ok {
			return nil, noSuchEntity(fmt.Sprintf("The role with name %s cannot be found.", name)), false
		}
		return r, reply{}, true
	}
	switch c.op {
	case "GetInstanceProfile":
		p, rep, ok := profile(f.Get("InstanceProfileName"))
		if !ok {
			return rep, true
		}
		return iamResponse(c.op, wrap{Profile: s.xmlProfile(p)}), true
	case "CreateInstanceProfile":
		name := f.Get("InstanceProfileName")
		if _, ok := b.profiles[name]; ok {
			return entityExists(fmt.Sprintf("Instance Profile %s already exists.", name)), true
		}
		path := f.Get("Path")
		if path == "" {
			path = "/"
		}
		p := &instanceProfile{name: name, id: s.nextID("AIPA"), path: path, created: c.now}
		b.profiles[name] = p
		if s.profiles == nil {
			s.profiles = map[string]time.Time{}
		}
		s.profiles[name] = c.now // Latencies.ProfileVisible applies
		return iamResponse(c.op, wrap{Profile: s.xmlProfile(p)}), true
	case "DeleteInstanceProfile":
		p, rep, ok := profile(f.Get("InstanceProfileName"))
		if !ok {
			return rep, true
		}
		if len(p.roles) > 0 {
			return deleteConflict("Cannot delete entity, must remove roles from instance profile first."), true
		}
		delete(b.profiles, p.name)
		return iamResponse(c.op, nil), true
	case "CreateRole":
		name := f.Get("RoleName")
		if _, ok := b.roles[name]; ok {
			return entityExists(fmt.Sprintf("Role with name %s already exists.", name)), true
		}
		path := f.Get("Path")
		if path == "" {
			path = "/"
		}
		r := &iamRoleState{name: name, id: s.nextID("AROA"), path: path, trust: f.Get("AssumeRolePolicyDocument"), policies: map[string]string{}, created: c.now}
		b.roles[name] = r
		return iamResponse(c.op, wrap{Role: r.xml()}), true
	case "GetRole":
		r, ok := b.roles[f.Get("RoleName")]
		if !ok {
			return reply{}, false // the ECS service-linked role, or NoSuchEntity, as the front says
		}
		return iamResponse(c.op, wrap{Role: r.xml()}), true
	case "DeleteRole":
		r, rep, ok := role(f.Get("RoleName"))
		if !ok {
			return rep, true
		}
		for _, p := range b.profiles {
			if slices.Contains(p.roles, r.name) {
				return deleteConflict("Cannot delete entity, must remove roles from instance profile first."), true
			}
		}
		if len(r.policies) > 0 {
			return deleteConflict("Cannot delete entity, must delete policies first."), true
		}
		delete(b.roles, r.name)
		return iamResponse(c.op, nil), true
	case "PutRolePolicy":
		r, rep, ok := role(f.Get("RoleName"))
		if !ok {
			return rep, true
		}
		r.policies[f.Get("PolicyName")] = f.Get("PolicyDocument")
		return iamResponse(c.op, nil), true
	case "DeleteRolePolicy":
		r, rep, ok := role(f.Get("RoleName"))
		if !ok {
			return rep, true
		}
		name := f.Get("PolicyName")
		if _, ok := r.policies[name]; !ok {
			return noSuchEntity(fmt.Sprintf("The role policy with name %s cannot be found.", name)), true
		}
		delete(r.policies, name)
		return iamResponse(c.op, nil), true
	case "AddRoleToInstanceProfile":
		p, rep, ok := profile(f.Get("InstanceProfileName"))
		if !ok {
			return rep, true
		}
		r, rep, ok := role(f.Get("RoleName"))
		if !ok {
			return rep, true
		}
		if len(p.roles) > 0 {
			return errorReply(iamProtocol, http.StatusConflict, "LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"), true
		}
		p.roles = append(p.roles, r.name)
		return iamResponse(c.op, nil), true
	case "RemoveRoleFromInstanceProfile":
		p, rep, ok := profile(f.Get("InstanceProfileName"))
		if !ok {
			return rep, true
		}
		name := f.Get("RoleName")
		if !slices.Contains(p.roles, name) {
			return noSuchEntity(fmt.Sprintf("The role with name %s cannot be found.", name)), true
		}
		p.roles = slices.DeleteFunc(p.roles, func(r string) bool { return r == name })
		return iamResponse(c.op, nil), true
	}
	return reply{}, false
}

// iamLeftovers are the roles and instance profiles builds made. s.mu is
// held.
func (s *Server) iamLeftovers(b *buildState) []string {
	var left []string
	for name, p := range b.profiles {
		if !p.own {
			left = append(left, "instance profile "+name)
		}
	}
	for name, r := range b.roles {
		if !r.own {
			left = append(left, "role "+name)
		}
	}
	return left
}
