package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// check checks every flag of --backend aws at once, offline: it returns the
// backend's options (without clients or probes), the SHA-256 of
// --provision-report, and one line per bad flag, naming it. o is the
// gate's options: its run id names and tags what the backend creates.
func (f awsFlags) check(o validate.Options) (ao awsgate.Options, reportSHA256 string, bad []string) {
	ao = awsgate.Options{
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
		RunID: o.RunID,
	}
	if ao.ProbeImage == "" {
		ao.ProbeImage = validate.DefaultProbeImage
	}
	seen := map[string]bool{}
	bad = flagProblems(ao.Check(), seen)
	// The publisher comes with the backend: check it here, and the gate's
	// other options without it.
	early := o
	early.Publish = ""
	bad = append(bad, flagProblems(early.Validate(), seen)...)
	if o.Publish != "" {
		bad = append(bad, flagProblems(awsgate.CheckParameter(o.Publish), seen)...)
	}
	switch {
	case f.provisionReport == "":
	case o.Publish == "":
		bad = append(bad, "--provision-report: only with --publish-parameter (its digest is tagged on the AMI when it is published)")
	default:
		var err error
		if reportSHA256, err = fileSHA256(f.provisionReport); err != nil {
			bad = append(bad, fmt.Sprintf("--provision-report: %v", err))
		}
	}
	return ao, reportSHA256, bad
}

// newAWSBackend connects to AWS (the credentials checked, before anything
// is created) and returns the backend for ao and, when the gate is to
// publish, its publisher, which tags the AMI with the run id and the
// provision report's SHA-256. The backend prepares the probes the gate
// will run with o. It says on progress who the gate runs as.
func newAWSBackend(ctx context.Context, ao awsgate.Options, o validate.Options, reportSHA256 string, progress io.Writer) (validate.Backend, validate.Publisher, error) {
	acct, err := connect(ctx, ao.Region, progress)
	if err != nil {
		return nil, nil, err
	}
	ao.Account = acct
	// o's network modes are checked: its probes are well formed.
	ao.Probes = o.Probes()
	b, err := awsgate.New(ctx, ao)
	if err != nil {
		return nil, nil, fmt.Errorf("aws backend: %w", err)
	}
	if o.Publish == "" {
		return b, nil, nil
	}
	pub, err := awsgate.NewPublisher(ctx, awsgate.PublisherOptions{
		Account:               acct,
		RunID:                 o.RunID,
		ProvisionReportSHA256: reportSHA256,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("aws publisher: %w", err)
	}
	return b, pub, nil
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
