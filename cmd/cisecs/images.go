package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cisecs/cisecs/images"
)

// definitionsDir is where the image definitions are when no file is named.
const definitionsDir = "images"

func runImages(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cisecs images [%s/NAME.hcl ...]\n\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "Lists the image definitions (default: every %s/*.hcl) with their base AMI,\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "architecture and regions. With any problem in them, prints all of the\n")
		fmt.Fprintf(fs.Output(), "problems and exits with status 2.\n")
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	imgs, code := loadImages("cisecs images", fs.Args(), "", stderr)
	if code != 0 {
		return code
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tOS\tARCH\tREGION\tCOPY TO\tBASE")
	for _, img := range imgs {
		copies := "-"
		if len(img.CopyRegions) > 0 {
			copies = strings.Join(img.CopyRegions, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", img.Name, img.Base.OS, img.Base.Architecture, img.Region, copies, img.Base)
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintf(stderr, "cisecs images: %v\n", err)
		return 1
	}
	return 0
}

// loadImages loads the definitions at paths, or every definition in
// definitionsDir when there is none. Any problem in them is printed,
// all of them, one per line as "file:line:col: message", followed by a
// summary that ends in consequence when it is set; the status is then 2.
func loadImages(cmd string, paths []string, consequence string, stderr io.Writer) ([]images.Image, int) {
	if len(paths) == 0 {
		var err error
		if paths, err = images.Files(definitionsDir); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
			return nil, 2
		}
	}
	imgs, err := images.Load(paths)
	var probs images.Problems
	switch {
	case errors.As(err, &probs):
		summary := fmt.Sprintf("%s: %d problem(s) in the image definitions", cmd, len(probs))
		if consequence != "" {
			summary += "; " + consequence
		}
		fmt.Fprintf(stderr, "%v\n%s\n", probs, summary)
		return nil, 2
	case err != nil:
		fmt.Fprintf(stderr, "%s: %v\n", cmd, err)
		return nil, 1
	}
	return imgs, 0
}
