package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/cisecs/cisecs/builder"
)

// defaultOutDir is where generate writes when -o is not given.
const defaultOutDir = "dist"

func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cisecs generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", defaultOutDir, "directory to write DIR/NAME/NAME.pkr.hcl into")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cisecs generate [-o DIR] [%s/NAME.hcl ...]\n\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "Writes a Packer template, DIR/NAME/NAME.pkr.hcl, for each image definition\n")
		fmt.Fprintf(fs.Output(), "(default: every %s/*.hcl). Every definition is checked first: with any\n", definitionsDir)
		fmt.Fprintf(fs.Output(), "problem, all of them are printed, nothing is written, and the exit status is 2.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	imgs, code := loadImages("cisecs generate", fs.Args(), "nothing written", stderr)
	if code != 0 {
		return code
	}
	// Render everything before writing anything.
	rendered := make([][]byte, len(imgs))
	for i, img := range imgs {
		b, err := builder.Render(img)
		if err != nil {
			fmt.Fprintf(stderr, "cisecs generate: %v\n", err)
			return 1
		}
		rendered[i] = b
	}
	for i, img := range imgs {
		path := filepath.Join(*out, img.Name, img.Name+".pkr.hcl")
		if err := writeFile(path, rendered[i]); err != nil {
			fmt.Fprintf(stderr, "cisecs generate: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
	}
	return 0
}

// writeFile writes b to path, creating its directory: all of it or
// nothing (a temporary file renamed over path), mode 0644.
func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := renameio.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}
