package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cisecs/cisecs/pipeline"
	"github.com/cisecs/cisecs/release/due"
)

// newChecker returns the source Checker of a region.
type newChecker func(ctx context.Context, region string) (due.Checker, error)

// runSource says, for each image, whether it is due for a rebuild.
func runSource(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return sourceMain(ctx, args, stdout, stderr, due.New)
}

// sourceMain is runSource with the Checkers' maker given.
func sourceMain(ctx context.Context, args []string, stdout, stderr io.Writer, checker newChecker) int {
	fs := flag.NewFlagSet("cisecs source", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", "", "AWS region to look in (default: each image's own region)")
	out := fs.String("o", "", "file to write the JSON to as well (default: stdout only)")
	timeout := fs.Duration("timeout", 5*time.Minute, "how long the look-ups may take")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cisecs source [--region R] [-o FILE] [%s/NAME.hcl ...]\n\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "Says whether each image (default: every %s/*.hcl) is due for a rebuild:\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "it finds the newest available base AMI that matches the definition (and is\n")
		fmt.Fprintf(fs.Output(), "not deprecated, unless the base includes deprecated AMIs) and compares it,\n")
		fmt.Fprintf(fs.Output(), "the definition's SHA-256 and the pinned ECS agent version with the\n")
		fmt.Fprintf(fs.Output(), "provenance tags of the AMI the image's SSM parameter holds (the last\n")
		fmt.Fprintf(fs.Output(), "release). Reasons: %s, %s,\n", due.NeverReleased, due.ReleasedAMIMissing)
		fmt.Fprintf(fs.Output(), "%s, %s, %s, %s.\n", due.NewBaseAMI, due.AgentVersionChanged, due.DefinitionChanged, due.NewAgentRelease)
		fmt.Fprintf(fs.Output(), "The JSON names the base AMI it chose, its Marketplace product codes (the\n")
		fmt.Fprintf(fs.Output(), "subscription the build needs), its root device and root snapshot size. A\n")
		fmt.Fprintf(fs.Output(), "base whose root the build's volume would not replace (another device name,\n")
		fmt.Fprintf(fs.Output(), "a bigger snapshot) is an error naming the volume setting to change.\n\n")
		fmt.Fprintf(fs.Output(), "Prints JSON on stdout: for one image an object whose %q field is true\n", pipeline.SourceDueField)
		fmt.Fprintf(fs.Output(), "when it is due; for several, an array of those objects in name order. A\n")
		fmt.Fprintf(fs.Output(), "summary goes to stderr. Exit status: 0 due or not; 2 bad input, an AWS\n")
		fmt.Fprintf(fs.Output(), "error, or an image that no base AMI matches (nothing is printed then).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "cisecs source: --timeout %s is not positive\n", *timeout)
		return 2
	}
	imgs, code := loadImages("cisecs source", fs.Args(), "", stderr)
	if code != 0 {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	decisions, failed, err := due.CheckAll(ctx, imgs, *region, checker)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs source: %v\n", err)
		return 2
	}
	for _, err := range failed {
		fmt.Fprintf(stderr, "cisecs source: %v\n", err)
	}
	for _, d := range decisions {
		fmt.Fprintf(stderr, "%s: %s\n", d.Image, d.Message)
		for _, reason := range d.Reasons {
			fmt.Fprintf(stderr, "  - %s\n", reason.Message)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(stderr, "cisecs source: %d of %d image(s) could not be checked; nothing printed\n", len(failed), len(imgs))
		return 2
	}
	b, err := due.JSON(decisions)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs source: %v\n", err)
		return 2
	}
	if *out != "" {
		if err := writeFile(*out, b); err != nil {
			fmt.Fprintf(stderr, "cisecs source: %v\n", err)
			return 2
		}
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "cisecs source: %v\n", err)
		return 2
	}
	return 0
}
