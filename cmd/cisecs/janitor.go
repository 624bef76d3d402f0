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

	"github.com/cisecs/cisecs/validate/awsgate"
)

// runJanitor removes what killed gate runs left behind: resources tagged
// by the gate whose expiry has passed. It never touches anything else.
func runJanitor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs janitor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	region := fs.String("region", "", "AWS region (default: from the AWS configuration chain)")
	timeout := fs.Duration("timeout", 15*time.Minute, "how long the sweep may take")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: cisecs janitor [flags]\n\nRemoves the instances, ECS clusters, tasks and task definitions that gate\nruns left behind: only those tagged %s and %s, and only once that\nexpiry has passed.\n\nflags:\n", awsgate.TagRunID, awsgate.TagExpiresAt)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cisecs janitor: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "cisecs janitor: --timeout %s is not positive\n", *timeout)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	j, err := awsgate.NewJanitor(ctx, *region)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs janitor: %v\n", err)
		return 2
	}
	swept, err := j.Sweep(ctx, time.Now())
	for _, r := range []struct {
		what string
		ids  []string
	}{
		{"terminated instances", swept.Instances},
		{"stopped tasks", swept.Tasks},
		{"deleted clusters", swept.Clusters},
		{"deregistered task definitions", swept.TaskDefinitions},
	} {
		fmt.Fprintf(stdout, "janitor: %s: %d %s\n", r.what, len(r.ids), strings.Join(r.ids, " "))
	}
	if err != nil {
		fmt.Fprintf(stderr, "cisecs janitor: %v\n", err)
		return 1
	}
	return 0
}
