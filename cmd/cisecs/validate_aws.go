package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cisecs/cisecs/provisioner/hostscript"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// check checks every flag of --backend aws at once, offline: it returns the
// backend's options (without clients or probes), the SHA-256 of
// --provision-report and the agent it names, and one line per bad flag,
// naming it. o is the gate's options: its run id names and tags what the
// backend creates.
func (f awsFlags) check(o validate.Options) (ao awsgate.Options, report provisionReport, bad []string) {
	report.Copies, bad = f.parseCopies(o)
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
	bad = append(bad, flagProblems(ao.Check(), seen)...)
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
		r, err := readProvisionReport(f.provisionReport)
		if err != nil {
			bad = append(bad, fmt.Sprintf("--provision-report: %v", err))
		}
		report.SHA256, report.ECSAgentVersion = r.SHA256, r.ECSAgentVersion
	}
	return ao, report, bad
}

// newAWSBackend connects to AWS (the credentials checked, before anything
// is created) and returns the backend for ao and, when the gate is to
// publish, its publisher, which tags the AMI with the run id and the
// provision report's SHA-256. The backend prepares the probes the gate
// will run with o. It says on progress who the gate runs as.
func newAWSBackend(ctx context.Context, ao awsgate.Options, o validate.Options, report provisionReport, progress io.Writer) (validate.Backend, validate.Publisher, error) {
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
		ProvisionReportSHA256: report.SHA256,
		ECSAgentVersion:       report.ECSAgentVersion,
		Copies:                report.Copies,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("aws publisher: %w", err)
	}
	return b, pub, nil
}

// provisionReport is what the gate takes from the build's provision
// report to tag the released AMI with.
type provisionReport struct {
	// SHA256 is the report file's SHA-256, hex-encoded.
	SHA256 string
	// ECSAgentVersion is the ECS agent the build installed, as the
	// report's ecs_agent.version says it (the package release dropped);
	// empty in a report written before it said so.
	ECSAgentVersion string
	// Copies are the AMI's copies to publish, region to AMI id
	// (--publish-copies).
	Copies map[string]string
}

// parseCopies reads --publish-copies: REGION=AMI pairs, comma-separated,
// none in the gate's own region and no region twice.
func (f awsFlags) parseCopies(o validate.Options) (map[string]string, []string) {
	if f.copies == "" {
		return nil, nil
	}
	if o.Publish == "" {
		return nil, []string{"--publish-copies: only with --publish-parameter (the copies are published to it)"}
	}
	copies := map[string]string{}
	var bad []string
	for _, pair := range strings.Split(f.copies, ",") {
		region, image, ok := strings.Cut(strings.TrimSpace(pair), "=")
		switch {
		case !ok || region == "" || image == "":
			bad = append(bad, fmt.Sprintf("--publish-copies %q: %q is not REGION=AMI; want one like eu-west-1=ami-0123456789abcdef0", f.copies, pair))
		case awsgate.CheckRegion(region) != nil:
			bad = append(bad, fmt.Sprintf("--publish-copies: %q is not a region name; want one like eu-west-1", region))
		case !release.IsImageID(image):
			bad = append(bad, fmt.Sprintf("--publish-copies: %q (in %s) is not an AMI id; want one like ami-0123456789abcdef0", image, region))
		case copies[region] != "":
			bad = append(bad, fmt.Sprintf("--publish-copies: region %s is listed twice", region))
		case region == f.region:
			bad = append(bad, fmt.Sprintf("--publish-copies: %s is the gate's own region: its AMI is --ami", region))
		default:
			copies[region] = image
		}
	}
	return copies, bad
}

// readProvisionReport reads the report at path: a host script report
// (JSON, schema cisecs.report/v1).
func readProvisionReport(path string) (provisionReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return provisionReport{}, fmt.Errorf("provision report %q: %w", path, err)
	}
	r, err := hostscript.ParseReport(b)
	if err != nil {
		return provisionReport{}, fmt.Errorf("provision report %q: %w", path, err)
	}
	sum := sha256.Sum256(b)
	version, _, _ := strings.Cut(r.ECSAgent.Version, "-")
	return provisionReport{SHA256: hex.EncodeToString(sum[:]), ECSAgentVersion: version}, nil
}
