package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate"
	"github.com/cisecs/cisecs/validate/awsgate"
	"github.com/cisecs/cisecs/validate/twin"
	"github.com/cisecs/cisecs/validate/twingate"
)

// Flags that belong to one backend only.
var (
	awsOnlyFlags  = []string{"ami", "region", "subnet", "security-group", "instance-profile", "instance-type", "execution-role-arn", "publish-parameter", "provision-report", "publish-copies"}
	twinOnlyFlags = []string{"twin-baseline", "twin-dir", "twin-unprovisioned", "twin-verbose"}
)

// runValidate maps its flags to the gate's options (validate.Options),
// the chosen backend's (awsgate.Options, twingate.Options) and the
// publisher's, one flag a setting; the packages check them.
func runValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		backend, reportPath, junitPath string
		o                              validate.Options
		ao                             awsgate.Options
		tw                             twingate.Options
		twinVerbose                    bool
		copies, provisionReport        string
	)
	fs.StringVar(&backend, "backend", "", "where to launch the host: twin (offline, root) or aws (required)")
	fs.StringVar(&reportPath, "report", "", "file to write the JSON report to (default none: the results are printed on stdout)")
	fs.StringVar(&junitPath, "junit", "", "file to write a JUnit XML report to, for CI (default none)")
	fs.StringVar(&o.RunID, "run-id", "", "id of the run, in reports and resource names (default: generated)")
	fs.Var((*listFlag)(&o.NetworkModes), "network-modes", "ECS network modes the image enables (default "+strings.Join(release.NetworkModes(), ",")+")")
	fs.BoolVar(&o.IMDSBlocked, "imds-blocked", false, "the image sets ECS_AWSVPC_BLOCK_IMDS: awsvpc tasks must not reach IMDS")
	fs.BoolVar(&o.BridgeIMDSBlocked, "bridge-imds-blocked", false, "bridge tasks must not reach IMDS either (Docker's DOCKER-USER drop of 169.254.169.254, or an IMDS hop limit of 1)")
	fs.StringVar(&o.RoleARN, "task-role-arn", "", "task role ARN the probe's credentials must be for, arn:aws:iam::ACCOUNT:role/NAME (aws: required; twin: default its own)")
	fs.StringVar(&o.ProbeImage, "probe-image", validate.DefaultProbeImage, "probe container image, with sh and curl; from a subnet without egress, one in the account's ECR (ACCOUNT.dkr.ecr.REGION.amazonaws.com/...), which VPC endpoints serve")
	fs.DurationVar(&o.Timeout, "timeout", validate.DefaultTimeout, "bound on launch and checks; cleanup has its own")
	fs.DurationVar(&o.CleanupTimeout, "cleanup-timeout", validate.DefaultCleanupTimeout, "bound on each cleanup attempt")
	fs.StringVar(&o.Publish, "publish-parameter", "", "aws: SSM parameter to publish the AMI id to when every check passed")
	fs.StringVar(&copies, "publish-copies", "", "aws: the AMI's copies in other regions, REGION=AMI,... (the build's copy_regions): each gets the gate's tags and the same parameter in its region (needs --publish-parameter)")
	fs.StringVar(&provisionReport, "provision-report", "", "aws: the build's provisioner report (cisecs-report-NAME.json); its SHA-256 is tagged on the AMI when published (needs --publish-parameter)")
	fs.StringVar(&o.ImageID, "ami", "", "aws: the AMI under test, ami-0123456789abcdef0")
	fs.StringVar(&ao.Region, "region", "", "aws: region, like eu-west-1 (default: the AWS configuration's: AWS_REGION, the profile)")
	fs.StringVar(&ao.Subnet, "subnet", "", "aws: subnet to launch the instance in, subnet-0123456789abcdef0")
	fs.StringVar(&ao.SecurityGroup, "security-group", "", "aws: security group of the instance, sg-0123456789abcdef0")
	fs.StringVar(&ao.InstanceProfile, "instance-profile", "", "aws: instance profile, name or ARN, with the ECS container instance and SSM policies")
	fs.StringVar(&ao.InstanceType, "instance-type", "", "aws: instance type (default: "+release.GateInstanceType("x86_64")+" for an x86_64 AMI, "+release.GateInstanceType("arm64")+" for arm64)")
	fs.StringVar(&ao.ExecutionRoleARN, "execution-role-arn", "", "aws: task execution role ARN (pulls the probe image; default none)")
	fs.StringVar(&tw.Baseline, "twin-baseline", twingate.DefaultBaseline, "twin: CIS baseline to boot ("+strings.Join(twin.BaselineNames(), ", ")+")")
	fs.StringVar(&tw.Dir, "twin-dir", "", "twin: state directory (default: a temporary one, removed at cleanup)")
	fs.BoolVar(&tw.Unprovisioned, "twin-unprovisioned", false, "twin: leave the CIS host as it is, without the host script: the gate must fail")
	fs.BoolVar(&twinVerbose, "twin-verbose", false, "twin: print the host script's output and the boot journal to stderr")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: cisecs validate --backend twin|aws [flags]

The release gate: launches a host from the image, runs probe tasks that must
reach their credentials (169.254.170.2) in every network mode the image
enables, stops one by force, reboots the host and probes again, and always
removes what it created. Prints each check's result on stdout (and writes
them as JSON with --report, as JUnit XML with --junit); progress goes to
stderr. With --backend aws, every flag, then the credentials, then the
subnet's routes and endpoints (to ECS, SSM and the probe image's
registry) are checked before anything is created, and the ECS
service-linked role is created if the account lacks it. Exit status: 0 every check passed,
1 a check failed, 2 bad flags, or the gate could not run or clean up.

Offline demo (root): cisecs validate --backend twin
It fails on an unfixed CIS host: cisecs validate --backend twin --twin-unprovisioned

flags:`)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "cisecs validate: "+format+"\n", a...)
		return validate.ExitError
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// misplaced says which of names were set, with what is wrong with them.
	misplaced := func(names []string, only string) []string {
		var out []string
		for _, n := range names {
			if set[n] {
				out = append(out, "--"+n+": only with --backend "+only)
			}
		}
		return out
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Progress = stderr
	var b validate.Backend
	switch backend {
	case "twin":
		if bad := misplaced(awsOnlyFlags, "aws"); len(bad) > 0 {
			return fail("%s", badFlags(bad))
		}
		if twinVerbose {
			tw.Log = stderr
		}
		tb, err := twingate.New(tw)
		if err != nil {
			return fail("%v", err)
		}
		o.ImageID = tb.ImageID()
		if err := o.Validate(); err != nil {
			return fail("%s", badFlags(flagProblems(err)))
		}
		b = tb
	case "aws":
		// One run id for the gate and the backend that tags with it.
		ao.Gate = o.WithDefaults()
		po, err := publishOptions(ao, copies, provisionReport)
		bad := append(misplaced(twinOnlyFlags, "twin"), flagProblems(errors.Join(ao.Check(), err))...)
		if len(bad) > 0 {
			return fail("%s", badFlags(bad))
		}
		var pub validate.Publisher
		if b, pub, err = newAWSBackend(ctx, ao, po, stderr); err != nil {
			return fail("%v", err)
		}
		o, o.Publisher = ao.Gate, pub
	case "":
		return fail("--backend is required: twin (offline) or aws")
	default:
		return fail("--backend %q: want twin or aws", backend)
	}

	r := validate.Run(ctx, b, o)
	fmt.Fprint(stdout, r.Text())
	if err := writeReports(r, reportPath, junitPath, stdout); err != nil {
		return fail("%v", err)
	}
	return r.ExitCode()
}

// writeReports writes r as JSON to reportPath and as JUnit XML to
// junitPath, those that are not empty, and says where on stdout.
func writeReports(r validate.Report, reportPath, junitPath string, stdout io.Writer) error {
	if reportPath != "" {
		j, err := r.JSON()
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := writeFile(reportPath, j); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		fmt.Fprintf(stdout, "report: %s\n", reportPath)
	}
	if junitPath != "" {
		x, err := r.JUnit()
		if err != nil {
			return fmt.Errorf("junit: %w", err)
		}
		if err := writeFile(junitPath, x); err != nil {
			return fmt.Errorf("junit: %w", err)
		}
		fmt.Fprintf(stdout, "junit: %s\n", junitPath)
	}
	return nil
}
