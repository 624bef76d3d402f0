package images_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
)

// FuzzParse feeds the definition parser arbitrary files, seeded with the
// shipped definitions. It must never panic, and must either return an
// image that renders into a template that parses as HCL, or Problems that
// each have a file and a message.
func FuzzParse(f *testing.F) {
	paths, err := images.Files(".")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSuffix(filepath.Base(p), ".hcl"), src)
	}
	f.Add("min", []byte(minimal))
	f.Add("bad", []byte("image \"bad\" {\n  region = \n}\n"))
	f.Fuzz(func(t *testing.T, name string, src []byte) {
		file := name + ".hcl"
		img, err := images.Parse(file, src)
		if err != nil {
			var ps images.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %v (%T) is not Problems", err, err)
			}
			for _, p := range ps {
				if p.File != file || p.Message == "" || p.Line < 0 || p.Column < 0 {
					t.Fatalf("bad problem %#v", p)
				}
			}
			return
		}
		out, err := builder.Render(img)
		if err != nil {
			t.Fatalf("parsed image does not render: %v\n%s", err, src)
		}
		if _, diags := hclsyntax.ParseConfig(out, "out.pkr.hcl", hcl.InitialPos); diags.HasErrors() {
			t.Fatalf("rendered template does not parse: %v\n%s", diags, out)
		}
	})
}
