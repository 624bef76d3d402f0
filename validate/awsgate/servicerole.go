package awsgate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/smithy-go"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
)

// The ECS service-linked role: ECS attaches an awsvpc task's network
// interface as this role, and refuses an awsvpc RunTask in an account
// without it ("Unable to assume the service linked role"). ECS makes it
// with an account's first cluster made in the console or by CloudFormation,
// but not always through the API: a fresh account may lack it.
const (
	ECSServiceLinkedRoleName = "AWSServiceRoleForECS"
	ECSServiceName           = "ecs.amazonaws.com"
	// CreateECSServiceLinkedRoleCommand creates the role, once per account.
	CreateECSServiceLinkedRoleCommand = "aws iam create-service-linked-role --aws-service-name " + ECSServiceName
)

// ServiceLinkedRoleError says that the ECS service-linked role does not
// exist and that IAM refused to let the gate create it: the awsvpc probes
// cannot run. Nothing was launched.
type ServiceLinkedRoleError struct {
	// Err is IAM's refusal.
	Err error
}

func (e *ServiceLinkedRoleError) Error() string {
	return fmt.Sprintf("the ECS service-linked role %s does not exist in the account, and creating it was refused (%v); awsvpc tasks cannot run without it. Create it once (an administrator, or a role allowed iam:CreateServiceLinkedRole for %s): %s",
		ECSServiceLinkedRoleName, e.Err, ECSServiceName, CreateECSServiceLinkedRoleCommand)
}

func (e *ServiceLinkedRoleError) Unwrap() error { return e.Err }

// runsAWSVPC says whether the run has awsvpc tasks: a probe of that mode,
// or no probes listed (the gate always runs an awsvpc probe).
func runsAWSVPC(probes []validate.Probe) bool {
	if len(probes) == 0 {
		return true
	}
	for _, p := range probes {
		if p.Mode == release.ModeAWSVPC {
			return true
		}
	}
	return false
}

// ensureServiceLinkedRole makes sure the ECS service-linked role exists:
// it does nothing if IAM has it (GetRole), and creates it if not
// (CreateServiceLinkedRole). It is not the run's resource: it stays, as
// ECS's own would. A *ServiceLinkedRoleError says that IAM refused the
// creation.
func (b *Backend) ensureServiceLinkedRole(ctx context.Context) error {
	_, err := b.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(ECSServiceLinkedRoleName)})
	var api smithy.APIError
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &api) || api.ErrorCode() != "NoSuchEntity":
		return fmt.Errorf("ECS service-linked role %q: %w", ECSServiceLinkedRoleName, err)
	}
	_, err = b.iam.CreateServiceLinkedRole(ctx, &iam.CreateServiceLinkedRoleInput{
		AWSServiceName: aws.String(ECSServiceName),
		Description:    aws.String("ECS service-linked role, created by the cisecs gate for its awsvpc tasks"),
	})
	switch {
	case err == nil:
		return nil
	case errors.As(err, &api) && api.ErrorCode() == "InvalidInput" && strings.Contains(api.ErrorMessage(), "has been taken"):
		return nil // made meanwhile (by ECS, or another run)
	case errors.As(err, &api) && api.ErrorCode() == "AccessDenied":
		return &ServiceLinkedRoleError{Err: err}
	}
	return fmt.Errorf("create the ECS service-linked role %q: %w", ECSServiceLinkedRoleName, err)
}
