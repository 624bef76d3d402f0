package main

import (
	"strings"
	"testing"
)

func TestImagesListsDefinitions(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/web.hcl": definition("web", "al2023", "x86_64", "us-east-1"),
		"images/batch-arm.hcl": `image "batch-arm" {
  base {
    owners       = ["aws-marketplace", "123456789012"]
    product_code = "abcdefgh12345678"
    architecture = "arm64"
    os           = "ubuntu2204"
  }
  region = "eu-west-1"
}
`,
	})
	t.Chdir(dir)
	want := `NAME       OS          ARCH    REGION     COPY TO       BASE
batch-arm  ubuntu2204  arm64   eu-west-1  -             aws-marketplace,123456789012 product-code abcdefgh12345678
web        al2023      x86_64  us-east-1  eu-central-1  aws-marketplace "CIS*"
`
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"default directory", []string{"images"}},
		{"named files", []string{"images", "images/web.hcl", "images/batch-arm.hcl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if stdout != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
			}
		})
	}
}

func TestImagesShipped(t *testing.T) {
	paths := shippedDefinitions(t)
	code, stdout, stderr := runCmd(t, append([]string{"images"}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(paths)+1 {
		t.Fatalf("%d lines for %d definitions:\n%s", len(lines), len(paths), stdout)
	}
	// Columns are aligned: every BASE starts where the header's does.
	col := strings.Index(lines[0], "BASE")
	for _, l := range lines[1:] {
		if len(l) <= col || l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("line %q is not aligned with the header %q", l, lines[0])
		}
	}
}

func TestImagesBadDefinition(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/web.hcl": strings.Replace(definition("web", "al2023", "x86_64", "us-east-1"), `"x86_64"`, `"sparc"`, 1),
	})
	t.Chdir(dir)
	code, stdout, stderr := runCmd(t, "images")
	want := `images/web.hcl:5:20: base.architecture: unknown architecture "sparc" (architectures are x86_64, arm64)
cisecs images: 1 problem(s) in the image definitions
`
	if code != 2 || stderr != want || stdout != "" {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 2, no stdout, stderr:\n%s", code, stdout, stderr, want)
	}
}
