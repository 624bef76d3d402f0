package awssim

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// CreateInstanceProfile records that the instance profile name was
// created now (the front does not play IAM itself). IAM is eventually
// consistent: for Latencies.ProfileVisible after this, RunInstances
// refuses the profile, by name or ARN, as EC2 refuses one it does not see
// yet. A profile the front was not told of is taken as long made.
func (s *Server) CreateInstanceProfile(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.profiles == nil {
		s.profiles = map[string]time.Time{}
	}
	s.profiles[name] = s.clock.Now()
}

// checkProfile refuses a RunInstances whose instance profile EC2 does not
// see yet. s.mu is held.
func (s *Server) checkProfile(form map[string][]string, now time.Time) (reply, bool) {
	param, ref := "iamInstanceProfile.name", first(form["IamInstanceProfile.Name"])
	what := "name"
	if arn := first(form["IamInstanceProfile.Arn"]); arn != "" {
		param, ref, what = "iamInstanceProfile.arn", arn, "ARN"
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	created, ok := s.profiles[name]
	if ref == "" || !ok || reached(created, s.o.Latencies.ProfileVisible, now) {
		return reply{}, true
	}
	return clientError(queryProtocol, "InvalidParameterValue",
		fmt.Sprintf("Value (%s) for parameter %s is invalid. Invalid IAM Instance Profile %s", ref, param, what)), false
}

// The ECS service-linked role, as IAM names it, and ECS's answer to an
// awsvpc RunTask in an account without it.
const (
	ECSServiceLinkedRoleName    = "AWSServiceRoleForECS"
	ECSServiceLinkedRolePath    = "/aws-service-role/ecs.amazonaws.com/"
	ECSServiceLinkedRoleMissing = "Unable to assume the service linked role. Please verify that the ECS service linked role exists."
)

// ECSServiceLinkedRole says whether the ECS service-linked role exists.
func (s *Server) ECSServiceLinkedRole() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ecsServiceLinkedRole
}

// iamRole is IAM's Role element.
type iamRole struct {
	Path       string `xml:"Path"`
	RoleName   string `xml:"RoleName"`
	RoleID     string `xml:"RoleId"`
	Arn        string `xml:"Arn"`
	CreateDate string `xml:"CreateDate"`
}

func ecsServiceLinkedRole() iamRole {
	return iamRole{
		Path:       ECSServiceLinkedRolePath,
		RoleName:   ECSServiceLinkedRoleName,
		RoleID:     "AROAAWSGATETESTECSSLR",
		Arn:        "arn:aws:iam::" + kumoAccount + ":role" + ECSServiceLinkedRolePath + ECSServiceLinkedRoleName,
		CreateDate: "2026-01-01T00:00:00Z",
	}
}

// kumoAccount is the account kumo answers for.
const kumoAccount = "000000000000"

// getECSServiceLinkedRole answers IAM GetRole for AWSServiceRoleForECS:
// NoSuchEntity (404) until it exists. s.mu is held.
func (s *Server) getECSServiceLinkedRole(c *call) reply {
	if !s.ecsServiceLinkedRole {
		return errorReply(iamProtocol, http.StatusNotFound, "NoSuchEntity",
			fmt.Sprintf("The role with name %s cannot be found.", ECSServiceLinkedRoleName))
	}
	type out struct {
		XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ GetRoleResponse"`
		Role    iamRole  `xml:"GetRoleResult>Role"`
		ReqID   string   `xml:"ResponseMetadata>RequestId"`
	}
	return xmlReply(out{Role: ecsServiceLinkedRole(), ReqID: "awssim"})
}

// createServiceLinkedRole answers IAM CreateServiceLinkedRole, for ECS
// only: it makes AWSServiceRoleForECS, and refuses as IAM does when it
// exists. s.mu is held.
func (s *Server) createServiceLinkedRole(c *call) reply {
	svc := c.form.Get("AWSServiceName")
	if svc != "ecs.amazonaws.com" {
		return clientError(iamProtocol, "InvalidInput", fmt.Sprintf("awssim plays the service-linked role of ecs.amazonaws.com only, not %q", svc))
	}
	if s.ecsServiceLinkedRole {
		return clientError(iamProtocol, "InvalidInput",
			fmt.Sprintf("Service role name %s has been taken in this account, please try a different suffix.", ECSServiceLinkedRoleName))
	}
	s.ecsServiceLinkedRole = true
	type out struct {
		XMLName xml.Name `xml:"https://iam.amazonaws.com/doc/2010-05-08/ CreateServiceLinkedRoleResponse"`
		Role    iamRole  `xml:"CreateServiceLinkedRoleResult>Role"`
		ReqID   string   `xml:"ResponseMetadata>RequestId"`
	}
	return xmlReply(out{Role: ecsServiceLinkedRole(), ReqID: "awssim"})
}

// IAM is an IAM client that reaches the front.
func (s *Server) IAM() *iam.Client { return iam.NewFromConfig(s.Config()) }
