package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/cisecs/cisecs/builder/leftovers"
	"github.com/cisecs/cisecs/internal/awsaccount"
	"github.com/cisecs/cisecs/release"
	"github.com/cisecs/cisecs/validate/awsgate"
)

// runJanitor removes what killed gate runs left behind: resources tagged
// by the gate whose expiry has passed. It never touches anything else.
func runJanitor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs janitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", "", "AWS region, like eu-west-1 (default: the AWS configuration's: AWS_REGION, the profile)")
	timeout := fs.Duration("timeout", 15*time.Minute, "how long the sweep may take")
	builds := fs.Bool("builds", false, "remove instead what killed Packer builds left (with the builder role): instances, volumes, key pairs, security groups and unfinished AMIs and snapshots tagged "+release.TagImage+" and "+release.TagBuildStarted+", once the build started more than "+leftovers.MaxBuild.String()+" ago")
	prefix := fs.String("run-id-prefix", "", "also remove, expired or not, the resources of the runs whose id starts with this (runs known to be over, such as a cancelled CI run's: gh-RUN_ID-)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: cisecs janitor [flags]

Removes the instances, ECS clusters, tasks, task definitions and available
awsvpc task network interfaces that gate runs left behind: only those
tagged %s and %s, and only once that expiry has passed, or with
--run-id-prefix, those of the runs it names. The flags, the region and the
credentials are checked before it looks. Exit status: 0 swept, 1 some removal failed (the
counts say what was removed), 2 bad flags, or no working region or
credentials (no counts then).

With --builds it removes instead what killed Packer builds of cisecs
templates left (Packer removes it itself when a build fails or is
cancelled): the build instance, its volumes, the temporary key pair and
security group, and an AMI and its snapshots the build never finished (no
%s tag yet), all tagged by the template, and only once their
build started more than %s ago. Run it with the builder role.

flags:
`, release.TagRunID, release.TagExpiresAt, release.TagDefinitionSHA256, leftovers.MaxBuild)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	var bad []string
	for _, a := range fs.Args() {
		bad = append(bad, fmt.Sprintf("unexpected argument %q", a))
	}
	if *region != "" {
		bad = append(bad, flagProblems(awsgate.CheckRegion(*region))...)
	}
	if *prefix != "" && !release.IsRunID(*prefix) {
		bad = append(bad, fmt.Sprintf("--run-id-prefix %q: not the start of a run id (letters, digits and -, starting with a letter or digit); want one like gh-1234567890-", *prefix))
	}
	if *timeout <= 0 {
		bad = append(bad, fmt.Sprintf("--timeout %s: not positive; want a duration like 15m", *timeout))
	}
	if *builds && *prefix != "" {
		bad = append(bad, "--builds and --run-id-prefix: choose one; --run-id-prefix names gate runs, --builds sweeps builds")
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "cisecs janitor: %s\n", badFlags(bad))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	// A region or credentials that do not work stop it here, with no
	// counts: it has not looked.
	acct, err := connect(ctx, *region, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs janitor: %v\n", err)
		return 2
	}
	if *builds {
		return sweepBuilds(ctx, acct, stdout, stderr)
	}
	j := awsgate.NewJanitor(acct)
	j.RunIDPrefix = *prefix
	swept, err := j.Sweep(ctx, time.Now())
	printSwept(stdout, []removed{
		{"terminated instances", swept.Instances},
		{"stopped tasks", swept.Tasks},
		{"deleted clusters", swept.Clusters},
		{"deregistered task definitions", swept.TaskDefinitions},
		{"deleted network interfaces", swept.NetworkInterfaces},
	})
	if err != nil {
		fmt.Fprintf(stderr, "cisecs janitor: %v\n", err)
		return 1
	}
	return 0
}

// sweepBuilds removes what killed builds left, and prints a count of each
// kind.
func sweepBuilds(ctx context.Context, acct *awsaccount.Account, stdout, stderr io.Writer) int {
	swept, err := leftovers.Sweeper{EC2: ec2.NewFromConfig(acct.Config)}.Sweep(ctx, time.Now())
	printSwept(stdout, []removed{
		{"terminated build instances", swept.Instances},
		{"deleted build volumes", swept.Volumes},
		{"deleted build key pairs", swept.KeyPairs},
		{"deleted build security groups", swept.SecurityGroups},
		{"deregistered unfinished AMIs", swept.Images},
		{"deleted unfinished snapshots", swept.Snapshots},
	})
	if err != nil {
		fmt.Fprintf(stderr, "cisecs janitor: %v\n", err)
		return 1
	}
	return 0
}

// removed is one kind of resource a sweep removed: what was done, and the
// ids.
type removed struct {
	what string
	ids  []string
}

// printSwept prints a line a kind: what was done, how many, the ids.
func printSwept(w io.Writer, kinds []removed) {
	for _, k := range kinds {
		fmt.Fprintf(w, "janitor: %s: %d %s\n", k.what, len(k.ids), strings.Join(k.ids, " "))
	}
}
