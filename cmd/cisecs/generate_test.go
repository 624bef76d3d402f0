package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
)

// shippedDefinitions returns the repository's image definitions.
func shippedDefinitions(t *testing.T) []string {
	t.Helper()
	paths, err := images.Files(filepath.Join("..", "..", "images"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no shipped image definitions")
	}
	return paths
}

// definition is a good definition of the image name.
func definition(name, os, arch, region string) string {
	return `image "` + name + `" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS*"
    architecture = "` + arch + `"
    os           = "` + os + `"
  }
  region       = "` + region + `"
  copy_regions = ["eu-central-1"]
}
`
}

// writeFiles writes files (path relative to dir -> content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tree returns the files under dir with their contents.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestGenerateWritesOneDirectoryPerImage(t *testing.T) {
	paths := shippedDefinitions(t)
	out := filepath.Join(t.TempDir(), "dist")
	code, stdout, stderr := runCmd(t, append([]string{"generate", "-o", out}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	var wantOut []string
	for _, img := range imgs {
		b, err := builder.Render(img)
		if err != nil {
			t.Fatal(err)
		}
		rel := filepath.Join(img.Name, img.Name+".pkr.hcl")
		want[rel] = string(b)
		wantOut = append(wantOut, filepath.Join(out, rel))
	}
	if got := tree(t, out); !reflect.DeepEqual(got, want) {
		var names []string
		for n := range got {
			names = append(names, n)
		}
		t.Errorf("wrote %q, want one template per image, as Render renders it", names)
	}
	if got := strings.Fields(stdout); !reflect.DeepEqual(got, wantOut) {
		t.Errorf("stdout = %q, want %q", got, wantOut)
	}
	fi, err := os.Stat(filepath.Join(out, imgs[0].Name, imgs[0].Name+".pkr.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o644 {
		t.Errorf("file mode %v, want 0644", mode)
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	paths := shippedDefinitions(t)
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, out := range []string{a, b} {
		if code, _, stderr := runCmd(t, append([]string{"generate", "-o", out}, paths...)...); code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
	}
	if !reflect.DeepEqual(tree(t, a), tree(t, b)) {
		t.Error("two runs wrote different files")
	}
	// A third run over the first output replaces the files with the same
	// bytes and leaves no temporary files behind.
	if code, _, stderr := runCmd(t, append([]string{"generate", "-o", a}, paths...)...); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if !reflect.DeepEqual(tree(t, a), tree(t, b)) {
		t.Error("regenerating changed the output")
	}
}

func TestGenerateDefaults(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/one.hcl": definition("one", "al2023", "x86_64", "us-east-1"),
		"images/two.hcl": definition("two", "ubuntu2404", "arm64", "eu-west-1"),
		"images/README":  "not a definition",
	})
	t.Chdir(dir)
	code, stdout, stderr := runCmd(t, "generate")
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if want := "dist/one/one.pkr.hcl\ndist/two/two.pkr.hcl\n"; stdout != want {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	var names []string
	for n := range tree(t, "dist") {
		names = append(names, n)
	}
	if len(names) != 2 {
		t.Errorf("dist holds %q, want two templates", names)
	}
}

func TestGenerateBadInputWritesNothing(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"images/good.hcl":  definition("good", "al2023", "x86_64", "us-east-1"),
		"images/bad.hcl":   "image \"bad\" {\n  region = \"moon-1\"\n  volume {\n    size_gb = 2\n  }\n}\n",
		"images/other.hcl": definition("wrong", "rhel9", "x86_64", "us-east-1"),
		"dist/keep.txt":    "already here",
	})
	t.Chdir(dir)
	wantStderr := `images/bad.hcl:1:1: base: required block is missing: base { owners = [...], name = "...", architecture = "...", os = "..." }
images/bad.hcl:2:12: region: "moon-1" is not an AWS region name such as us-east-1
images/bad.hcl:4:15: volume.size_gb: 2 is outside 8 to 16384
images/other.hcl:1:7: image "wrong": the name must be the file's name, "other"
cisecs generate: 4 problem(s) in the image definitions; nothing written
`
	for _, tc := range []struct {
		name string
		out  string
	}{
		{"existing output directory", "dist"},
		{"new output directory", "fresh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tree(t, ".")
			code, stdout, stderr := runCmd(t, "generate", "-o", tc.out)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stderr != wantStderr {
				t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantStderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if after := tree(t, "."); !reflect.DeepEqual(after, before) {
				t.Errorf("files changed: before %v, after %v", keys(before), keys(after))
			}
			if _, err := os.Stat("fresh"); !os.IsNotExist(err) {
				t.Errorf("output directory created: %v", err)
			}
		})
	}
}

func TestGenerateDuplicateNames(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a/x.hcl": definition("x", "al2", "x86_64", "us-east-1"),
		"b/x.hcl": definition("x", "al2", "arm64", "us-east-1"),
	})
	t.Chdir(dir)
	code, _, stderr := runCmd(t, "generate", "-o", "out", "a/x.hcl", "b/x.hcl")
	want := `b/x.hcl:1:7: image "x": already defined at a/x.hcl:1:7; image names must be unique
cisecs generate: 1 problem(s) in the image definitions; nothing written
`
	if code != 2 || stderr != want {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2, stderr:\n%s", code, stderr, want)
	}
	if _, err := os.Stat("out"); !os.IsNotExist(err) {
		t.Errorf("output directory created: %v", err)
	}
}

func TestGenerateUsageErrors(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no definitions", []string{"generate"}, "cisecs generate: no image definitions in images/*.hcl\n"},
		{"missing file", []string{"generate", "nope.hcl"}, "nope.hcl: cannot read the definition: open nope.hcl: no such file or directory\ncisecs generate: 1 problem(s) in the image definitions; nothing written\n"},
		{"unknown flag", []string{"generate", "-x"}, "flag provided but not defined: -x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCmd(t, tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.HasPrefix(stderr, tc.stderr) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", stderr, tc.stderr)
			}
		})
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
