// Command cisecs turns CIS-hardened Linux images into ECS hosts whose tasks
// reach their credentials. Run "cisecs help" for its commands.
package main

import (
	"fmt"
	"io"
	"os"
)

// command is one cisecs subcommand: it gets its arguments and returns the
// process exit status.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"script":   {"print the host script (user data, SSM Run Command, or by hand)", runScript},
		"generate": {"write a Packer template for each image definition (images/*.hcl)", runGenerate},
		"images":   {"list the image definitions with their base, architecture and regions", runImages},
		"validate": {"the release gate: launch the image, prove tasks reach their credentials, clean up", runValidate},
		"janitor":  {"remove what killed gate runs left behind (tagged, expired)", runJanitor},
		"source":   {"say which images are due for a rebuild (new base AMI, changed definition, ...)", runSource},

		// The nightly pipeline: its CI workflow and the IAM policies of its roles.
		"pipeline":   {"print the CI workflow that rebuilds, validates and publishes the images nightly", runPipeline},
		"iam-policy": {"print the IAM policy of a pipeline role: build-instance, builder or validator", runIAMPolicy},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "cisecs: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: cisecs <command> [flags]\n\ncommands:")
	for _, name := range sortedKeys(cmds) {
		fmt.Fprintf(w, "  %-10s %s\n", name, cmds[name].summary)
	}
	fmt.Fprintln(w, "\nRun \"cisecs <command> -h\" for a command's flags.")
}
