package iampolicy_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/golden"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/release/due"
	"github.com/cisecs/cisecs/release/publish"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// policyJSON returns the policy of role as the command prints it.
func policyJSON(t *testing.T, role iampolicy.Role) []byte {
	t.Helper()
	p, err := iampolicy.For(role)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.JSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGolden compares each policy with testdata/ROLE.json.golden; a second
// rendering gives the same bytes.
func TestGolden(t *testing.T) {
	for _, role := range iampolicy.Roles() {
		t.Run(string(role), func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", string(role)+".json.golden"), func() ([]byte, error) { return policyJSON(t, role), nil })
		})
	}
}

// document is a policy document as IAM reads it, with nothing assumed
// about its shape.
type document struct {
	Version   any
	Statement []map[string]any
}

var (
	sidRE      = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	actionRE   = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9]+$`)
	resourceRE = regexp.MustCompile(`^(\*|arn:aws:[a-z0-9-]+:[a-z0-9*-]*:[0-9*]*:[A-Za-z0-9*/:._${}-]+)$`)
	condKeyRE  = regexp.MustCompile(`^[a-z0-9-]+:[A-Za-z0-9/:._-]+$`)
	// The condition operators the policies may use.
	operators = []string{"ArnLike", "Bool", "ForAllValues:StringEquals", "Null", "StringEquals", "StringLike"}
	// Verbs of actions that change or remove what exists: each needs a
	// condition unless its statement is in unconditionable.
	destructiveRE = regexp.MustCompile(`:(Delete|Deregister|Terminate|Stop|Reboot|Remove|Detach|Revoke|Modify|Put|Add)`)
	// unconditionable are the statements with destructive actions IAM
	// cannot put a condition on; their Why says so.
	unconditionable = map[string]bool{
		"GateDeregisterTaskDefinitions": true, // no resource type, no condition key
		"GatePublish":                   true, // parameters are not tagged: scoped by path
	}
	// scopedOtherwise are the statements with destructive actions
	// conditioned on something other than a cisecs tag.
	scopedOtherwise = map[string]bool{
		"BuildEndItsSessions": true, // the caller's own Session Manager sessions
	}
	// documentLimit is IAM's size limit of a customer managed policy,
	// whitespace excluded.
	documentLimit = 6144
)

// TestGrammar parses each policy as IAM would and checks its grammar:
// version, a unique alphanumeric Sid, Effect Allow, and Action and
// Resource lists of well-formed actions and ARNs in every statement, known
// condition operators with well-formed keys, and the size limit.
func TestGrammar(t *testing.T) {
	for _, role := range iampolicy.Roles() {
		t.Run(string(role), func(t *testing.T) {
			raw := policyJSON(t, role)
			var doc document
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("not a JSON policy: %v", err)
			}
			if doc.Version != "2012-10-17" {
				t.Errorf("Version = %v, want 2012-10-17", doc.Version)
			}
			if len(doc.Statement) == 0 {
				t.Fatal("no statements")
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, raw); err != nil {
				t.Fatal(err)
			}
			if n := compact.Len(); n > documentLimit {
				t.Errorf("%d characters, over IAM's %d for a managed policy", n, documentLimit)
			}
			sids := map[string]bool{}
			for i, s := range doc.Statement {
				sid, _ := s["Sid"].(string)
				if !sidRE.MatchString(sid) || sids[sid] {
					t.Errorf("statement %d: Sid %q is not unique and alphanumeric", i, sid)
				}
				sids[sid] = true
				for k := range s {
					if !slices.Contains([]string{"Sid", "Effect", "Action", "Resource", "Condition"}, k) {
						t.Errorf("%s: unexpected element %q", sid, k)
					}
				}
				if s["Effect"] != "Allow" {
					t.Errorf("%s: Effect = %v, want Allow", sid, s["Effect"])
				}
				for _, a := range strings1(t, sid, "Action", s["Action"]) {
					if !actionRE.MatchString(a) {
						t.Errorf("%s: action %q is not service:Action", sid, a)
					}
				}
				for _, r := range strings1(t, sid, "Resource", s["Resource"]) {
					if !resourceRE.MatchString(r) {
						t.Errorf("%s: resource %q is neither * nor an aws ARN", sid, r)
					}
				}
				cond, ok := s["Condition"]
				if !ok {
					continue
				}
				ops, ok := cond.(map[string]any)
				if !ok || len(ops) == 0 {
					t.Errorf("%s: Condition %v is not a map of operators", sid, cond)
					continue
				}
				for op, keys := range ops {
					if !slices.Contains(operators, op) {
						t.Errorf("%s: condition operator %q", sid, op)
					}
					km, ok := keys.(map[string]any)
					if !ok || len(km) == 0 {
						t.Errorf("%s: %s: %v is not a map of keys", sid, op, keys)
						continue
					}
					for k, v := range km {
						if !condKeyRE.MatchString(k) {
							t.Errorf("%s: condition key %q", sid, k)
						}
						vals := strings1(t, sid, op+"."+k, v)
						if (op == "Null" || op == "Bool") && (len(vals) != 1 || (vals[0] != "true" && vals[0] != "false")) {
							t.Errorf("%s: %s %s = %q, want true or false", sid, op, k, vals)
						}
					}
				}
			}
		})
	}
}

// strings1 returns v, a JSON list of one or more strings.
func strings1(t *testing.T, sid, what string, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok || len(list) == 0 {
		t.Errorf("%s: %s %v is not a list of strings", sid, what, v)
		return nil
	}
	var out []string
	for _, e := range list {
		s, ok := e.(string)
		if !ok || s == "" {
			t.Errorf("%s: %s holds %v, not a string", sid, what, e)
			continue
		}
		out = append(out, s)
	}
	return out
}

// TestLeastPrivilege: no statement grants an action wildcard, and every
// action that changes or removes what exists is conditioned, on the role's
// tag where it names one, save the statements IAM allows no condition on.
func TestLeastPrivilege(t *testing.T) {
	tag := map[iampolicy.Role]string{iampolicy.Builder: release.TagImage, iampolicy.Validator: release.TagRunID}
	for _, role := range iampolicy.Roles() {
		t.Run(string(role), func(t *testing.T) {
			p, err := iampolicy.For(role)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range p.Statement {
				if s.Why == "" {
					t.Errorf("%s: no Why", s.Sid)
				}
				for _, a := range s.Action {
					if strings.Contains(a, "*") {
						t.Errorf("%s: action wildcard %q", s.Sid, a)
					}
				}
				destructive := slices.ContainsFunc(s.Action, destructiveRE.MatchString)
				switch {
				case unconditionable[s.Sid]:
					if !destructive || len(s.Condition) > 0 || !strings.Contains(s.Why, "no ") {
						t.Errorf("%s: listed as unconditionable; want a destructive action, no condition, and a Why that says why", s.Sid)
					}
				case !destructive:
				case len(s.Condition) == 0:
					t.Errorf("%s: %q without a condition", s.Sid, s.Action)
				case scopedOtherwise[s.Sid]:
				case !hasTagKey(s, tag[role]):
					t.Errorf("%s: %q is not conditioned on %s", s.Sid, s.Action, tag[role])
				}
				if len(s.Condition) == 0 && slices.Contains(s.Resource, "*") && !strings.Contains(s.Why, "Resource must be *") {
					t.Errorf("%s: Resource * without a condition, and no Why saying IAM requires it", s.Sid)
				}
			}
		})
	}
}

// hasTagKey reports whether s is conditioned on the tag, as a request or
// resource tag.
func hasTagKey(s iampolicy.Statement, tag string) bool {
	for _, keys := range s.Condition {
		for k := range keys {
			if strings.HasSuffix(k, "Tag/"+tag) {
				return true
			}
		}
	}
	return false
}

// TestValidatorCoversTheGate checks that every call validate/awsgate makes,
// the methods of its API interfaces, is an action the validator policy
// allows, and that the policy allows no ECS, EC2, SSM or IAM action the
// gate does not call (tagging on creation, iam:PassRole, and
// DescribeImages, which SSM calls as the caller to check a published AMI
// id, aside).
func TestValidatorCoversTheGate(t *testing.T) {
	ifaces := map[string][]reflect.Type{
		"ec2": {reflect.TypeFor[awsgate.EC2API](), reflect.TypeFor[awsgate.JanitorEC2API](), reflect.TypeFor[publish.ImageTagAPI](), reflect.TypeFor[awsgate.NetworkAPI]()},
		"ecs": {reflect.TypeFor[awsgate.ClusterAPI](), reflect.TypeFor[awsgate.TaskAPI](), reflect.TypeFor[awsgate.JanitorECSAPI]()},
		"ssm": {reflect.TypeFor[awsgate.CommandAPI](), reflect.TypeFor[publish.PublishAPI]()},
		"iam": {reflect.TypeFor[awsgate.RoleAPI]()},
	}
	calls := map[string]bool{}
	for svc, types := range ifaces {
		for _, it := range types {
			for m := range it.Methods() {
				calls[svc+":"+m.Name] = true
			}
		}
	}
	allowed := map[string]bool{}
	for _, s := range iampolicy.ValidatorPolicy().Statement {
		for _, a := range s.Action {
			allowed[a] = true
		}
	}
	for c := range calls {
		if !allowed[c] {
			t.Errorf("awsgate calls %s; the validator policy does not allow it", c)
		}
	}
	// iam:PassRole is no call: IAM checks it when RunInstances passes the
	// instance profile's role and RunTask the task roles.
	extra := map[string]bool{"ec2:CreateTags": true, "ecs:TagResource": true, "ec2:DescribeImages": true, "iam:PassRole": true}
	for a := range allowed {
		svc, _, _ := strings.Cut(a, ":")
		if _, gate := ifaces[svc]; gate && !calls[a] && !extra[a] {
			t.Errorf("the validator policy allows %s, which awsgate never calls", a)
		}
	}
}

// TestBuilderCoversSource checks that every call "cisecs source" makes,
// the methods of release/due's API interfaces, is an action the
// builder policy allows (the source job runs under the builder role).
func TestBuilderCoversSource(t *testing.T) {
	ifaces := map[string][]reflect.Type{
		"ec2": {reflect.TypeFor[due.ImagesAPI]()},
		"ssm": {reflect.TypeFor[due.ParameterAPI]()},
	}
	allowed := map[string]bool{}
	for _, s := range iampolicy.BuilderPolicy().Statement {
		for _, a := range s.Action {
			allowed[a] = true
		}
	}
	for svc, types := range ifaces {
		for _, it := range types {
			for m := range it.Methods() {
				if !allowed[svc+":"+m.Name] {
					t.Errorf("cisecs source calls %s:%s; the builder policy does not allow it", svc, m.Name)
				}
			}
		}
	}
	// The public parameter it reads the newest agent release from, for
	// every OS an image can have.
	for _, os := range []string{"al2", "al2023", "rhel9", "ubuntu2204"} {
		var img images.Image
		img.Base.OS = os
		arn := "arn:aws:ssm:eu-west-1::parameter" + due.AgentReleaseParameter(img)
		if ok, err := allows(iampolicy.BuilderPolicy(), "ssm:GetParameter", arn, nil); err != nil || !ok {
			t.Errorf("the builder policy does not let cisecs source read %s (%v)", arn, err)
		}
	}
}

// TestPublisherTags checks that the validator may add exactly the tags
// the publisher adds to a released AMI, and only to a cisecs AMI.
func TestPublisherTags(t *testing.T) {
	if release.TagGateRunID != release.TagGateRunID || release.TagProvisionReportSHA256 != release.TagProvisionReportSHA256 || release.TagECSAgentInstalled != release.TagECSAgentInstalled {
		t.Errorf("tags %s, %s, %s; the publisher writes %s, %s, %s", release.TagGateRunID, release.TagProvisionReportSHA256, release.TagECSAgentInstalled,
			release.TagGateRunID, release.TagProvisionReportSHA256, release.TagECSAgentInstalled)
	}
	var found bool
	for _, s := range iampolicy.ValidatorPolicy().Statement {
		if !slices.Contains(s.Action, "ec2:CreateTags") || !slices.Contains(s.Resource, "arn:aws:ec2:*::image/*") {
			continue
		}
		found = true
		keys := s.Condition["ForAllValues:StringEquals"]["aws:TagKeys"]
		if !slices.Equal(keys, []string{release.TagGateRunID, release.TagProvisionReportSHA256, release.TagECSAgentInstalled}) {
			t.Errorf("%s: tag keys %q, want the publisher's three", s.Sid, keys)
		}
		if null := s.Condition["Null"]; !slices.Equal(null["aws:ResourceTag/"+release.TagImage], []string{"false"}) || !slices.Equal(null["aws:TagKeys"], []string{"false"}) {
			t.Errorf("%s: Null %v, want the image tagged %s and tag keys present", s.Sid, null, release.TagImage)
		}
	}
	if !found {
		t.Error("the validator may not tag images: the publisher's CreateTags would be denied")
	}
}

func TestForUnknownRole(t *testing.T) {
	if _, err := iampolicy.For("admin"); err == nil || !strings.Contains(err.Error(), `role "admin"`) {
		t.Errorf("err = %v, want one naming the role", err)
	}
}

// TestValidatorServiceLinkedRole: the validator may read and create the
// ECS service-linked role the gate makes sure of, and no other role: the
// resource is that role's ARN and the condition names ECS.
func TestValidatorServiceLinkedRole(t *testing.T) {
	arn := "arn:aws:iam::*:role/aws-service-role/" + awsgate.ECSServiceName + "/" + awsgate.ECSServiceLinkedRoleName
	var get, create bool
	for _, s := range iampolicy.ValidatorPolicy().Statement {
		for _, a := range s.Action {
			switch a {
			case "iam:GetRole":
				get = true
				if !slices.Equal(s.Resource, []string{arn}) {
					t.Errorf("%s: iam:GetRole on %q, want only %s", s.Sid, s.Resource, arn)
				}
			case "iam:CreateServiceLinkedRole":
				create = true
				if !slices.Equal(s.Resource, []string{arn + "*"}) {
					t.Errorf("%s: iam:CreateServiceLinkedRole on %q, want only %s*", s.Sid, s.Resource, arn)
				}
				if got := s.Condition["StringEquals"]["iam:AWSServiceName"]; !slices.Equal(got, []string{awsgate.ECSServiceName}) || len(s.Condition) != 1 {
					t.Errorf("%s: condition %v, want iam:AWSServiceName = %s", s.Sid, s.Condition, awsgate.ECSServiceName)
				}
			}
		}
	}
	if !get || !create {
		t.Errorf("iam:GetRole allowed %t, iam:CreateServiceLinkedRole %t; the gate calls both", get, create)
	}
}
