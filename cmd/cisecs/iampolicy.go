package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/cisecs/cisecs/iampolicy"
	"github.com/cisecs/cisecs/release"
)

func runIAMPolicy(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs iam-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	explain := fs.Bool("explain", false, "print what each statement is for, and why some have no tag condition, instead of the policy")
	var roles []string
	for _, r := range iampolicy.Roles() {
		roles = append(roles, string(r))
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cisecs iam-policy [--explain] %s\n\n", strings.Join(roles, "|"))
		fmt.Fprintf(fs.Output(), "Prints the IAM policy document (JSON) of a role of the nightly pipeline:\n")
		fmt.Fprintf(fs.Output(), "  build-instance  the build instance's role and profile (%s): Session\n", release.BuildInstanceProfile)
		fmt.Fprintf(fs.Output(), "                  Manager only\n")
		fmt.Fprintf(fs.Output(), "  builder         the source and build jobs: a Packer amazon-ebs build with\n")
		fmt.Fprintf(fs.Output(), "                  Session Manager and the build instance profile, and cisecs source\n")
		fmt.Fprintf(fs.Output(), "  validator       the validate job: the release gate, publishing, the janitor\n")
		fmt.Fprintf(fs.Output(), "Changes and deletions are scoped by the tags the build (%s) and the gate\n", release.TagImage)
		fmt.Fprintf(fs.Output(), "(%s) put on what they create, wherever IAM can test a tag.\n\nflags:\n", release.TagRunID)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "cisecs iam-policy: want one role: %s\n", strings.Join(roles, ", "))
		return 2
	}
	p, err := iampolicy.For(iampolicy.Role(fs.Arg(0)))
	if err != nil {
		fmt.Fprintf(stderr, "cisecs iam-policy: %v\n", err)
		return 2
	}
	if *explain {
		for _, s := range p.Statement {
			fmt.Fprintf(stdout, "%s: %s\n", s.Sid, s.Why)
		}
		return 0
	}
	b, err := p.JSON()
	if err != nil {
		fmt.Fprintf(stderr, "cisecs iam-policy: %v\n", err)
		return 1
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "cisecs iam-policy: %v\n", err)
		return 1
	}
	return 0
}
