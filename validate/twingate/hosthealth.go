package twingate

import (
	"context"
	"errors"
	"strings"

	"github.com/cisecs/cisecs/validate"
)

var _ validate.HostRunner = (*Backend)(nil)

// RunOnHost implements validate.HostRunner: script runs with bash, as
// root, in the twin's host (its mount and network namespaces).
func (b *Backend) RunOnHost(ctx context.Context, script string) (string, error) {
	tw := b.Twin()
	if tw == nil {
		return "", errors.New("run on twin host: not launched")
	}
	out, err := tw.Exec(ctx, strings.NewReader(script), "bash", "-s")
	return string(out), err
}
