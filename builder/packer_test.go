package builder_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/packertest"
)

// packerRun runs packer args in a directory holding only the template
// tmpl, offline, and returns its output and error.
func packerRun(t *testing.T, tmpl []byte, args ...string) (string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "image.pkr.hcl"), tmpl, 0o644); err != nil {
		t.Fatal(err)
	}
	return packerIn(t, dir, args...)
}

// packerIn runs packer args in dir, offline, and returns its output and
// error.
func packerIn(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	packer, plugins := packertest.Tool(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, packer, args...)
	cmd.Dir = dir
	home := t.TempDir()
	cmd.Env = append(os.Environ(),
		"PACKER_PLUGIN_PATH="+plugins,
		"CHECKPOINT_DISABLE=1",
		"HOME="+home,
		"PACKER_CONFIG_DIR="+home,
	)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestPackerValidate runs the pinned Packer's fmt -check and validate
// (which checks every block against the Amazon plugin's and the cisecs
// plugin's own settings, without calling AWS) on the template of every
// shipped image and of a definition that sets everything.
func TestPackerValidate(t *testing.T) {
	packertest.Tool(t)
	paths, err := images.Files(imagesDir)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatal(err)
	}
	fullImg, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range append(imgs, fullImg) {
		t.Run(img.Name, func(t *testing.T) {
			tmpl := render(t, img)
			if out, err := packerRun(t, tmpl, "fmt", "-check", "-diff", "."); err != nil {
				t.Errorf("packer fmt -check: %v\n%s", err, out)
			}
			if out, err := packerRun(t, tmpl, "validate", "."); err != nil {
				t.Errorf("packer validate: %v\n%s", err, out)
			}
		})
	}
}

// TestPackerValidateChecksPlugins proves that the validation above is not
// vacuous: a setting that neither plugin has is refused.
func TestPackerValidateChecksPlugins(t *testing.T) {
	packertest.Tool(t)
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := builder.Render(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, after, bogus string
	}{
		{"amazon-ebs source", `  imds_support = "v2.0"`, "bogus_source_setting"},
		{"cisecs provisioner", `    agent_base_url    = var.agent_base_url`, "bogus_provisioner_setting"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(tmpl, []byte(tc.after+"\n")) {
				t.Fatalf("template has no line %q", tc.after)
			}
			bad := bytes.Replace(tmpl, []byte(tc.after+"\n"), []byte(tc.after+"\n"+tc.bogus+" = 1\n"), 1)
			out, err := packerRun(t, bad, "validate", ".")
			if err == nil || !strings.Contains(out, tc.bogus) {
				t.Errorf("packer validate accepted %s (err %v):\n%s", tc.bogus, err, out)
			}
		})
	}
}

// TestPackerVariables checks the validation of the variables users set at
// build time.
func TestPackerVariables(t *testing.T) {
	packertest.Tool(t)
	paths, err := images.Files(imagesDir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := images.Load(paths[:1])
	if err != nil {
		t.Fatal(err)
	}
	tmpl := render(t, img[0])
	for _, tc := range []struct {
		name string
		vars []string
		ok   bool
	}{
		{"build-time settings", []string{"ami_name_prefix=team-a/", "subnet_id=subnet-0123456789abcdef0", "vpc_id=vpc-0123456789abcdef0", "iam_instance_profile=packer-ssm", "agent_base_url=https://mirror.example.com/ecs", "instance_type=c7i.large"}, true},
		{"ami name prefix with a character AMI names refuse", []string{"ami_name_prefix=team!"}, false},
		{"ami name prefix too long", []string{"ami_name_prefix=" + strings.Repeat("a", 41)}, false},
		{"agent base url that is not a URL", []string{"agent_base_url=ftp://mirror"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"validate"}
			for _, v := range tc.vars {
				args = append(args, "-var", v)
			}
			out, err := packerRun(t, tmpl, append(args, ".")...)
			if (err == nil) != tc.ok || (!tc.ok && !strings.Contains(out, "checked by the validation rule")) {
				t.Errorf("packer %q: err %v, want ok %v:\n%s", args, err, tc.ok, out)
			}
		})
	}
}

// TestPackerWritesManifestBesideTemplate runs the pinned Packer from the
// directory above the template's, as "packer build dist/NAME" runs from
// the repository root, on the rendered manifest post-processor's output
// (with a null source, which needs no AWS): manifest.json lands beside the
// template, and nothing in the directory Packer runs in.
func TestPackerWritesManifestBesideTemplate(t *testing.T) {
	packertest.Tool(t)
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	rendered, diags := hclwrite.ParseConfig(render(t, img), "full.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	build := rendered.Body().FirstMatchingBlock("build", nil)
	if build == nil {
		t.Fatal("no build block")
	}
	manifest := build.Body().FirstMatchingBlock("post-processor", []string{"manifest"})
	if manifest == nil {
		t.Fatal(`no post-processor "manifest"`)
	}
	output := manifest.Body().GetAttribute("output")
	if output == nil {
		t.Fatal("manifest has no output")
	}

	tmpl := hclwrite.NewEmptyFile()
	null := tmpl.Body().AppendNewBlock("source", []string{"null", "full"}).Body()
	null.SetAttributeValue("communicator", cty.StringVal("none"))
	b := tmpl.Body().AppendNewBlock("build", nil).Body()
	b.SetAttributeValue("sources", cty.TupleVal([]cty.Value{cty.StringVal("source.null.full")}))
	b.AppendNewBlock("post-processor", []string{"manifest"}).Body().
		SetAttributeRaw("output", output.Expr().BuildTokens(nil))

	cwd := t.TempDir()
	dir := filepath.Join(cwd, "dist", img.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, img.Name+".pkr.hcl"), tmpl.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join("dist", img.Name)
	if out, err := packerIn(t, cwd, "build", rel); err != nil {
		t.Fatalf("packer build %s: %v\n%s", rel, err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, builder.ManifestFile)); err != nil {
		t.Errorf("no manifest beside the template: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cwd, builder.ManifestFile)); err == nil {
		t.Errorf("a stray %s in the directory Packer ran in", builder.ManifestFile)
	}
}
