package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

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

// writeFile replaces path with b, creating its directory, so that a reader
// never sees half a file.
func writeFile(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return nil
}
