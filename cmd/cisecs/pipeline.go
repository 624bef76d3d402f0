package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cisecs/cisecs/pipeline"
)

func runPipeline(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs pipeline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var names []string
	for _, ci := range pipeline.CIs() {
		names = append(names, string(ci))
	}
	ciName := fs.String("ci", string(pipeline.GitHub), "CI system to render the workflow for: "+strings.Join(names, ", "))
	out := fs.String("o", "", "file to write the workflow to, e.g. .github/workflows/cisecs-nightly.yml (default: stdout); the pins of the actions in the file it replaces are kept")
	dependabot := fs.Bool("dependabot", false, "write the Dependabot configuration that proposes updates of the pinned actions instead, e.g. -o .github/dependabot.yml")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cisecs pipeline [--ci CI] [-o FILE] [%s/NAME.hcl ...]\n\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "Prints the CI workflow that rebuilds the images (default: every %s/*.hcl)\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "nightly and on demand: cisecs source decides which are due, Packer builds\n")
		fmt.Fprintf(fs.Output(), "them, the release gate validates and publishes each, the janitor sweeps.\n")
		fmt.Fprintf(fs.Output(), "Run it from the repository root: the workflow names the definitions by the\n")
		fmt.Fprintf(fs.Output(), "paths given. The roles it assumes need \"cisecs iam-policy builder\" and\n")
		fmt.Fprintf(fs.Output(), "\"cisecs iam-policy validator\". Bad input exits 2 and writes nothing.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	if *dependabot {
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "cisecs pipeline: --dependabot takes no definitions (got %q); nothing written\n", fs.Arg(0))
			return 2
		}
		return emit(*out, []byte(pipeline.DependabotConfig), stdout, stderr)
	}
	ci, err := pipeline.ParseCI(*ciName)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs pipeline: --ci: %v\n", err)
		return 2
	}
	imgs, code := loadImages("cisecs pipeline", fs.Args(), "nothing written", stderr)
	if code != 0 {
		return code
	}
	var keep map[string]string
	if *out != "" && *out != "-" {
		old, err := os.ReadFile(*out)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "cisecs pipeline: -o: %v; nothing written\n", err)
			return 2
		}
		keep = pipeline.PinsIn(old)
	}
	b, err := pipeline.RenderKeeping(ci, imgs, keep)
	if err != nil {
		fmt.Fprintf(stderr, "cisecs pipeline: %v\n", strings.ReplaceAll(err.Error(), "\n", "\ncisecs pipeline: "))
		return 2
	}
	return emit(*out, b, stdout, stderr)
}

// emit writes b to the file out, or to stdout when out is "" or "-".
func emit(out string, b []byte, stdout, stderr io.Writer) int {
	if out == "" || out == "-" {
		if _, err := stdout.Write(b); err != nil {
			fmt.Fprintf(stderr, "cisecs pipeline: %v\n", err)
			return 1
		}
		return 0
	}
	if err := writeFile(out, b); err != nil {
		fmt.Fprintf(stderr, "cisecs pipeline: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, out)
	return 0
}
