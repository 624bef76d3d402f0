package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// newAWSBackend returns the AWS backend for the flags and, when the gate
// is to publish, its publisher. o is the gate's options: its run id names
// and tags what the backend creates, and the backend prepares the probes
// the gate will run.
func newAWSBackend(ctx context.Context, f awsFlags, o validate.Options) (validate.Backend, validate.Publisher, error) {
	if err := f.check(o.RoleARN); err != nil {
		return nil, nil, err
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
	pub, err := awsgate.NewPublisher(ctx, awsgate.PublisherOptions{Region: f.region})
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
