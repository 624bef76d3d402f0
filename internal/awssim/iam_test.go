package awssim_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/sivchari/kumo"

	"github.com/cisecs/cisecs/internal/awssim"
)

// TestECSServiceLinkedRole: in a fresh account, IAM GetRole answers
// NoSuchEntity for AWSServiceRoleForECS (as the SDK's typed error);
// CreateServiceLinkedRole for ECS makes it, under its service path, and
// refuses a second time as IAM does; a fault answers in IAM's error form.
func TestECSServiceLinkedRole(t *testing.T) {
	k := kumo.NewServer()
	t.Cleanup(k.Close)
	synctest.Test(t, func(t *testing.T) {
		s, err := awssim.New(awssim.Options{Kumo: k.URL, NoECSServiceLinkedRole: true,
			Fault: func(op string, n int) *awssim.APIError {
				if op == "CreateServiceLinkedRole" && n == 1 {
					return &awssim.APIError{Code: "AccessDenied", Message: "not authorized"}
				}
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c, ctx := s.IAM(), t.Context()
		get := &iam.GetRoleInput{RoleName: aws.String(awssim.ECSServiceLinkedRoleName)}
		create := &iam.CreateServiceLinkedRoleInput{AWSServiceName: aws.String("ecs.amazonaws.com")}

		var nse *iamtypes.NoSuchEntityException
		if _, err := c.GetRole(ctx, get); !errors.As(err, &nse) {
			t.Fatalf("GetRole in a fresh account: %v, want NoSuchEntity", err)
		}
		var api smithy.APIError
		if _, err := c.CreateServiceLinkedRole(ctx, create); !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
			t.Fatalf("CreateServiceLinkedRole, faulted: %v, want AccessDenied", err)
		}
		out, err := c.CreateServiceLinkedRole(ctx, create)
		if err != nil || aws.ToString(out.Role.Path) != awssim.ECSServiceLinkedRolePath || aws.ToString(out.Role.RoleName) != awssim.ECSServiceLinkedRoleName {
			t.Fatalf("CreateServiceLinkedRole: %+v, %v; want the ECS role", out, err)
		}
		if got, err := c.GetRole(ctx, get); err != nil || aws.ToString(got.Role.Arn) != "arn:aws:iam::000000000000:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS" {
			t.Errorf("GetRole after: %+v, %v; want the role", got, err)
		}
		var taken *iamtypes.InvalidInputException
		if _, err := c.CreateServiceLinkedRole(ctx, create); !errors.As(err, &taken) {
			t.Errorf("CreateServiceLinkedRole again: %v, want InvalidInput (taken)", err)
		}
		if !s.ECSServiceLinkedRole() {
			t.Errorf("the front says the role does not exist")
		}
	})
}
