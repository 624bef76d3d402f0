package awsgate_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/internal/awssim"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// TestServiceLinkedRole: in an account without the ECS service-linked
// role (a fresh one), ECS refuses every awsvpc RunTask. The gate checks
// the role before it launches anything and creates it; when IAM refuses
// that, the gate fails before launch, with the command that creates it.
func TestServiceLinkedRole(t *testing.T) {
	denied := func(op string, _ int) *awssim.APIError {
		if op == "CreateServiceLinkedRole" {
			return &awssim.APIError{Code: "AccessDenied", Message: "User: arn:aws:sts::000000000000:assumed-role/cisecs-validator/ci is not authorized to perform: iam:CreateServiceLinkedRole"}
		}
		return nil
	}
	tests := []struct {
		name      string
		fresh     bool // the account lacks the role
		fault     func(string, int) *awssim.APIError
		wantPass  bool
		wantMade  int      // CreateServiceLinkedRole calls, answered or refused
		wantError []string // in the launch check's message
	}{
		{name: "role exists", wantPass: true},
		{name: "fresh account", fresh: true, wantPass: true, wantMade: 1},
		{name: "fresh account, creation denied", fresh: true, fault: denied, wantMade: 1, wantError: []string{
			"nothing launched", "AWSServiceRoleForECS does not exist", "AccessDenied",
			"aws iam create-service-linked-role --aws-service-name ecs.amazonaws.com",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := awssim.Options{Latencies: briefLatencies(), Probe: holdingProbe, NoECSServiceLinkedRole: tc.fresh, Fault: tc.fault}
			inBubble(t, o, func(t *testing.T, e *env) {
				var progress strings.Builder
				r := validate.Run(t.Context(), e.backend(t, nil), validate.Options{
					ImageID: testAMI, RoleARN: testRole, RunID: runID(t), Progress: &progress,
				})
				t.Logf("progress:\n%s", progress.String())
				if got := r.Passed(); got != tc.wantPass {
					t.Errorf("passed %t (%s), want %t", got, r.Summary(), tc.wantPass)
				}
				if n := e.front.Calls("CreateServiceLinkedRole"); n != tc.wantMade {
					t.Errorf("%d CreateServiceLinkedRole, want %d", n, tc.wantMade)
				}
				made := e.front.Requests("CreateServiceLinkedRole") // answered ones
				for _, m := range made {
					if got := m.Form.Get("AWSServiceName"); got != "ecs.amazonaws.com" {
						t.Errorf("CreateServiceLinkedRole for %q, want ecs.amazonaws.com", got)
					}
				}
				if gets := e.front.Requests("GetRole"); len(gets) != 1 || gets[0].Form.Get("RoleName") != "AWSServiceRoleForECS" {
					t.Errorf("GetRole requests %v, want one for AWSServiceRoleForECS", gets)
				}
				if tc.wantPass {
					if !e.front.ECSServiceLinkedRole() {
						t.Errorf("the gate passed, and the role does not exist")
					}
					if first := e.front.Requests("CreateCluster"); len(made) > 0 && len(first) > 0 && first[0].Time.Before(made[0].Time) {
						t.Errorf("the cluster was created before the role")
					}
				}
				if len(tc.wantError) == 0 {
					e.assertClean(t, runID(t))
					return
				}
				if r.ExitCode() != validate.ExitError || len(r.Checks) == 0 || r.Checks[0].Status != validate.StatusError {
					t.Fatalf("exit %d, checks %+v; want exit 2, launch ERROR", r.ExitCode(), r.Checks)
				}
				for _, w := range tc.wantError {
					if !strings.Contains(r.Checks[0].Message, w) {
						t.Errorf("launch message %q lacks %q", r.Checks[0].Message, w)
					}
				}
				for _, op := range []string{"CreateCluster", "RunInstances", "RegisterTaskDefinition", "RunTask"} {
					if n := e.front.Calls(op); n > 0 {
						t.Errorf("%s called %d times: something was launched", op, n)
					}
				}
			})
		})
	}
}

// TestServiceLinkedRoleError: the error says what is missing and the
// command that creates it, and unwraps to IAM's refusal.
func TestServiceLinkedRoleError(t *testing.T) {
	iamErr := errors.New("AccessDenied")
	err := error(&awsgate.ServiceLinkedRoleError{Err: iamErr})
	if !errors.Is(err, iamErr) || !strings.Contains(err.Error(), awsgate.CreateECSServiceLinkedRoleCommand) {
		t.Errorf("%v: want it to unwrap to IAM's error and name %q", err, awsgate.CreateECSServiceLinkedRoleCommand)
	}
}
