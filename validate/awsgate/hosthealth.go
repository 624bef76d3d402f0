package awsgate

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/cisecs/cisecs/validate"
)

var _ validate.HostRunner = (*Backend)(nil)

// hostScriptEnd ends the here-document RunOnHost feeds bash with.
const hostScriptEnd = "CISECS_HOST_SCRIPT"

// HostCommand is the shell command RunOnHost sends for script.
func HostCommand(script string) string {
	return "bash -s <<'" + hostScriptEnd + "'\n" + script + "\n" + hostScriptEnd
}

// RunOnHost implements validate.HostRunner through SSM Run Command
// (AWS-RunShellScript, which runs its commands with sh): the script goes to
// bash on a quoted here-document, so that sh expands nothing in it. A
// script that exits non-zero is an error carrying its status and stderr.
func (b *Backend) RunOnHost(ctx context.Context, script string) (string, error) {
	id := b.Instance()
	if id == "" {
		return "", fmt.Errorf("run on host: %w", ErrNotLaunched)
	}
	last, err := b.command(ctx, id, HostCommand(script), "host health")
	if last == nil {
		return "", err
	}
	out := aws.ToString(last.StandardOutputContent)
	if err == nil && last.Status != ssmtypes.CommandInvocationStatusSuccess {
		err = fmt.Errorf("host script on %s: SSM status %s, exit code %d: %s", id, last.Status, last.ResponseCode, aws.ToString(last.StandardErrorContent))
	}
	return out, err
}
