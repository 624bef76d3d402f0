package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// newAWSBackend returns the AWS backend for the flags and, when the gate
// is to publish, its publisher. o is the gate's options: its run id names
// and tags what the backend creates, and the backend prepares the probes
// the gate will run. The publisher tags the AMI with the run id and, with
// --provision-report, the report's SHA-256.
func newAWSBackend(ctx context.Context, f awsFlags, o validate.Options) (validate.Backend, validate.Publisher, error) {
	if err := f.check(o.RoleARN); err != nil {
		return nil, nil, err
	}
	var reportSHA256 string
	if f.provisionReport != "" {
		var err error
		if reportSHA256, err = fileSHA256(f.provisionReport); err != nil {
			return nil, nil, fmt.Errorf("--provision-report: %w", err)
		}
	}
	b, err := awsgate.New(ctx, awsgate.Options{
		AMI:              f.ami,
		Region:           f.region,
		Subnet:           f.subnet,
		SecurityGroup:    f.securityGroup,
		InstanceProfile:  f.instanceProfile,
		InstanceType:     f.instanceType,
		TaskRoleARN:      o.RoleARN,
		ExecutionRoleARN: f.executionRoleARN,
		ProbeImage:       o.ProbeImage,
		ProbeScript: func(p validate.Probe) (string, error) {
			s, err := validate.ProbeScript(p)
			return string(s), err
		},
		Probes: o.Probes(),
		RunID:  o.RunID,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("aws backend: %w", err)
	}
	if o.Publish == "" {
		return b, nil, nil
	}
	pub, err := awsgate.NewPublisher(ctx, awsgate.PublisherOptions{
		Region:                f.region,
		RunID:                 o.RunID,
		ProvisionReportSHA256: reportSHA256,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("aws publisher: %w", err)
	}
	return b, pub, nil
}

// check says which of the settings the AWS backend needs are missing; the
// task role comes from --task-role-arn.
func (f awsFlags) check(taskRole string) error {
	var missing []string
	for _, r := range []struct{ flag, value string }{
		{"--ami", f.ami},
		{"--subnet", f.subnet},
		{"--security-group", f.securityGroup},
		{"--instance-profile", f.instanceProfile},
		{"--task-role-arn", taskRole},
	} {
		if strings.TrimSpace(r.value) == "" {
			missing = append(missing, r.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("--backend aws needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// fileSHA256 returns the SHA-256 of the file at path, hex-encoded.
func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("provision report %q: %w", path, err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("provision report %q: empty", path)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
