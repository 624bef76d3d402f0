package builder_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/builder"
	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/internal/budget"
	"github.com/cisecs/cisecs/internal/golden"
	"github.com/cisecs/cisecs/release"
)

// imagesDir holds the image definitions: the shipped ones and any a user
// adds.
const imagesDir = "../images"

// pinned are the definitions in imagesDir whose templates golden files in
// testdata/ pin: the images cisecs ships. An image a user adds has no
// golden file; TestEveryDefinition checks it all the same.
var pinned = []string{
	"al2-cis-level1",
	"al2023-cis-level1",
	"al2023-cis-level1-arm64",
	"rhel9-cis-level1",
	"ubuntu2204-cis-level1",
}

// TestGolden renders each pinned image and compares the template with
// testdata/NAME.pkr.hcl.golden.
func TestGolden(t *testing.T) {
	var paths []string
	for _, name := range pinned {
		paths = append(paths, filepath.Join(imagesDir, name+".hcl"))
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatalf("pinned definitions:\n%v", err)
	}
	for _, img := range imgs {
		t.Run(img.Name, func(t *testing.T) {
			golden.Check(t, filepath.Join("testdata", img.Name+".pkr.hcl.golden"), func() ([]byte, error) { return builder.Render(img) })
		})
	}
}

// TestGoldenFilesArePinned keeps testdata/ free of golden files that no
// test compares.
func TestGoldenFilesArePinned(t *testing.T) {
	goldens, err := filepath.Glob(filepath.Join("testdata", "*.pkr.hcl.golden"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range goldens {
		if name := strings.TrimSuffix(filepath.Base(g), ".pkr.hcl.golden"); !slices.Contains(pinned, name) {
			t.Errorf("%s: %q is not a pinned image", g, name)
		}
	}
}

// TestEveryDefinition renders every definition in imagesDir, pinned or
// not: a second render gives the same bytes, formatting the output again
// changes nothing (packer fmt -check passes), and the output parses as
// HCL into the build of that image.
func TestEveryDefinition(t *testing.T) {
	paths, err := images.Files(imagesDir)
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Load(paths)
	if err != nil {
		t.Fatalf("definitions:\n%v", err)
	}
	if len(imgs) == 0 {
		t.Fatalf("no definitions in %s", imagesDir)
	}
	for _, img := range imgs {
		t.Run(img.Name, func(t *testing.T) {
			got := render(t, img)
			if again := render(t, img); !bytes.Equal(got, again) {
				t.Fatal("a second render gave different bytes")
			}
			if formatted := hclwrite.Format(got); !bytes.Equal(formatted, got) {
				t.Errorf("output is not packer fmt clean; formatted:\n%s", formatted)
			}
			f := parse(t, got)
			if name := literal(t, f, []string{"build"}, "name"); !name.RawEquals(cty.StringVal(img.Name)) {
				t.Errorf("build name = %#v, want %q", name, img.Name)
			}
			attrsOf(t, f, []string{"source", "amazon-ebs", img.Name})
		})
	}
}

// full sets every setting a definition has.
const full = `
image "full" {
  description = "Full \"example\" with $${x} and %%{y} \\ back"
  base {
    owners       = ["aws-marketplace", "123456789012"]
    product_code = "abcdefgh12345678"
    name         = "CIS Ubuntu Linux 24.04 LTS Benchmark - Level 1*"
    architecture = "arm64"
    os           = "ubuntu2404"
  }
  instance_type = "m7g.large"
  region        = "eu-west-1"
  copy_regions  = ["eu-central-1", "us-east-1"]
  volume {
    size_gb            = 64
    type               = "gp2"
    kms_key_id         = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    region_kms_key_ids = {
      eu-central-1 = "arn:aws:kms:eu-central-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"
      us-east-1    = "alias/cisecs"
    }
    device_name = "/dev/xvdb"
  }
  docker_volume { size_gb = 100 }
  audit_volume {
    size_gb     = 20
    device_name = "/dev/sdh"
  }
  share {
    accounts             = ["111122223333"]
    organizations        = ["arn:aws:organizations::123456789012:organization/o-exampleorg1"]
    organizational_units = ["arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cd34ef56"]
  }
  tags = {
    "for"  = "x"
    "a b"  = "quote\"d $${var.x}"
    Team   = "π ${"interp"}"
  }
  ecs {
    agent_version     = "1.86.3"
    network_modes     = ["bridge"]
    awsvpc_block_imds = false
    allow_overlayfs   = true
    config            = { ECS_LOGLEVEL = "debug", ECS_RESERVED_MEMORY = 256 }
  }
  ssm_parameter = "/platform/ecs/full"
}
`

// TestRenderSettings parses the template of a definition that sets
// everything and checks where each setting went, and that strings came
// through HCL quoting unchanged.
func TestRenderSettings(t *testing.T) {
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, render(t, img))
	for _, tc := range []struct {
		name  string
		block []string // block types and labels down to the attribute
		attr  string
		want  cty.Value
	}{
		{"base owners", []string{"data", "amazon-ami", "cis"}, "owners", strs("aws-marketplace", "123456789012")},
		{"base newest", []string{"data", "amazon-ami", "cis"}, "most_recent", cty.True},
		{"base region", []string{"data", "amazon-ami", "cis"}, "region", cty.StringVal("eu-west-1")},
		{"base filters", []string{"data", "amazon-ami", "cis"}, "filters", cty.ObjectVal(map[string]cty.Value{
			"name":                cty.StringVal("CIS Ubuntu Linux 24.04 LTS Benchmark - Level 1*"),
			"product-code":        cty.StringVal("abcdefgh12345678"),
			"architecture":        cty.StringVal("arm64"),
			"virtualization-type": cty.StringVal("hvm"),
			"root-device-type":    cty.StringVal("ebs"),
		})},
		{"description, escaped", []string{"source", "amazon-ebs", "full"}, "ami_description", cty.StringVal(`Full "example" with ${x} and %{y} \ back`)},
		{"build region", []string{"source", "amazon-ebs", "full"}, "region", cty.StringVal("eu-west-1")},
		{"copy regions", []string{"source", "amazon-ebs", "full"}, "ami_regions", strs("eu-central-1", "us-east-1")},
		{"accounts", []string{"source", "amazon-ebs", "full"}, "ami_users", strs("111122223333")},
		{"organizations", []string{"source", "amazon-ebs", "full"}, "ami_org_arns", strs("arn:aws:organizations::123456789012:organization/o-exampleorg1")},
		{"organizational units", []string{"source", "amazon-ebs", "full"}, "ami_ou_arns", strs("arn:aws:organizations::123456789012:ou/o-exampleorg1/ou-ab12-cd34ef56")},
		{"imds on the AMI", []string{"source", "amazon-ebs", "full"}, "imds_support", cty.StringVal("v2.0")},
		{"encrypted AMI", []string{"source", "amazon-ebs", "full"}, "encrypt_boot", cty.True},
		{"kms key", []string{"source", "amazon-ebs", "full"}, "kms_key_id", cty.StringVal("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")},
		{"region kms keys", []string{"source", "amazon-ebs", "full"}, "region_kms_key_ids", cty.ObjectVal(map[string]cty.Value{
			"eu-central-1": cty.StringVal("arn:aws:kms:eu-central-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab"),
			"us-east-1":    cty.StringVal("alias/cisecs"),
		})},
		{"ssh user", []string{"source", "amazon-ebs", "full"}, "ssh_username", cty.StringVal("ubuntu")},
		{"session manager", []string{"source", "amazon-ebs", "full"}, "ssh_interface", cty.StringVal("session_manager")},
		{"imdsv2 on the build instance", []string{"source", "amazon-ebs", "full", "metadata_options"}, "http_tokens", cty.StringVal("required")},
		{"imds hop limit", []string{"source", "amazon-ebs", "full", "metadata_options"}, "http_put_response_hop_limit", cty.NumberIntVal(1)},
		{"root device", []string{"source", "amazon-ebs", "full", "launch_block_device_mappings"}, "device_name", cty.StringVal("/dev/xvdb")},
		{"volume size", []string{"source", "amazon-ebs", "full", "launch_block_device_mappings"}, "volume_size", cty.NumberIntVal(64)},
		{"volume type", []string{"source", "amazon-ebs", "full", "launch_block_device_mappings"}, "volume_type", cty.StringVal("gp2")},
		{"volume encrypted", []string{"source", "amazon-ebs", "full", "launch_block_device_mappings"}, "encrypted", cty.True},
		{"volume kms key", []string{"source", "amazon-ebs", "full", "launch_block_device_mappings"}, "kms_key_id", cty.StringVal("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")},
		{"user tags, escaped", []string{"locals"}, "tags", cty.ObjectVal(map[string]cty.Value{
			"for":  cty.StringVal("x"),
			"a b":  cty.StringVal(`quote"d ${var.x}`),
			"Team": cty.StringVal("π interp"),
		})},
		{"build name", []string{"build"}, "name", cty.StringVal("full")},
		{"build sources", []string{"build"}, "sources", strs("source.amazon-ebs.full")},
		{"provisioner region", []string{"build", "provisioner", "cisecs"}, "region", cty.StringVal("eu-west-1")},
		{"network modes", []string{"build", "provisioner", "cisecs"}, "network_modes", strs("bridge")},
		{"agent version", []string{"build", "provisioner", "cisecs"}, "agent_version", cty.StringVal("1.86.3")},
		{"awsvpc block imds", []string{"build", "provisioner", "cisecs"}, "awsvpc_block_imds", cty.False},
		{"ecs config", []string{"build", "provisioner", "cisecs"}, "ecs_config", cty.ObjectVal(map[string]cty.Value{
			"ECS_LOGLEVEL":        cty.StringVal("debug"),
			"ECS_RESERVED_MEMORY": cty.StringVal("256"),
		})},
		{"manifest strip path", []string{"build", "post-processor", "manifest"}, "strip_path", cty.True},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := literal(t, f, tc.block, tc.attr)
			if !got.RawEquals(tc.want) {
				t.Errorf("%s %s = %#v, want %#v", strings.Join(tc.block, "."), tc.attr, got, tc.want)
			}
		})
	}
}

// TestRenderProvenance checks the tags that record where an AMI came from.
func TestRenderProvenance(t *testing.T) {
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, render(t, img))
	attrs := attrsOf(t, f, []string{"locals"})
	prov, ok := attrs["provenance"]
	if !ok {
		t.Fatal("no provenance local")
	}
	obj, isObj := prov.Expr.(*hclsyntax.ObjectConsExpr)
	if !isObj {
		t.Fatalf("provenance is %T", prov.Expr)
	}
	got := map[string]string{}
	for _, it := range obj.Items {
		k, _ := it.KeyExpr.Value(nil)
		v, diags := it.ValueExpr.Value(nil)
		if diags.HasErrors() {
			got[k.AsString()] = "(expression)"
			continue
		}
		got[k.AsString()] = v.AsString()
	}
	want := map[string]string{
		"Name":                     "(expression)",
		"SourceAMI":                "{{ .SourceAMI }}",
		"SourceAMIName":            "{{ .SourceAMIName }}",
		"cisecs:image":             "full",
		"cisecs:definition-sha256": img.Digest,
		"cisecs:os":                "ubuntu2404",
		"cisecs:ecs-agent-version": "1.86.3",
		"cisecs:ssm-parameter":     "/platform/ecs/full",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("provenance = %q, want %q", got, want)
	}
	src := attrsOf(t, f, []string{"source", "amazon-ebs", "full"})
	for _, name := range []string{"tags", "snapshot_tags"} {
		a, ok := src[name]
		if !ok {
			t.Errorf("source has no %s", name)
			continue
		}
		if vars := traversals(a.Expr); !reflect.DeepEqual(vars, []string{"local.tags", "local.provenance"}) {
			t.Errorf("%s takes %q, want local.tags and local.provenance", name, vars)
		}
	}
}

// TestRenderWritesBesideTemplate evaluates the paths of the manifest and of
// the host script's report as Packer does, path.root being the template's
// directory as given on its command line: both land beside the template,
// not in the directory Packer runs in, and the manifest names the report
// relative to itself.
func TestRenderWritesBesideTemplate(t *testing.T) {
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, render(t, img))
	for _, root := range []string{".", "dist/full", "/abs/dist/full"} {
		ctx := &hcl.EvalContext{Variables: map[string]cty.Value{
			"path": cty.ObjectVal(map[string]cty.Value{"root": cty.StringVal(root)}),
		}}
		for _, tc := range []struct {
			name  string
			block []string
			attr  string
			want  string
		}{
			{"manifest", []string{"build", "post-processor", "manifest"}, "output", root + "/" + builder.ManifestFile},
			{"host report", []string{"build", "provisioner", "cisecs"}, "report_file", root + "/" + builder.ReportFile("full")},
		} {
			t.Run(tc.name+" in "+root, func(t *testing.T) {
				a, ok := attrsOf(t, f, tc.block)[tc.attr]
				if !ok {
					t.Fatalf("%s has no %s", strings.Join(tc.block, "."), tc.attr)
				}
				got, diags := a.Expr.Value(ctx)
				if diags.HasErrors() {
					t.Fatalf("%s: %v", tc.attr, diags)
				}
				if !got.RawEquals(cty.StringVal(tc.want)) {
					t.Errorf("%s %s = %#v, want %q", strings.Join(tc.block, "."), tc.attr, got, tc.want)
				}
			})
		}
	}
	t.Run("report named in the manifest", func(t *testing.T) {
		a, ok := attrsOf(t, f, []string{"build", "post-processor", "manifest"})["custom_data"]
		if !ok {
			t.Fatal("manifest has no custom_data")
		}
		obj, isObj := a.Expr.(*hclsyntax.ObjectConsExpr)
		if !isObj {
			t.Fatalf("custom_data is %T", a.Expr)
		}
		for _, it := range obj.Items {
			if k, _ := it.KeyExpr.Value(nil); k.AsString() != "report_file" {
				continue
			}
			v, diags := it.ValueExpr.Value(nil)
			if diags.HasErrors() || !v.RawEquals(cty.StringVal(builder.ReportFile("full"))) {
				t.Errorf("custom_data report_file = %#v (%v), want %q", v, diags, builder.ReportFile("full"))
			}
			return
		}
		t.Error("custom_data has no report_file")
	})
}

// TestRenderSafeByDefault checks what a minimal definition gets without
// asking: no sharing, no copies, no agent pin, no KMS key.
func TestRenderSafeByDefault(t *testing.T) {
	src := []byte(`image "min" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS Red Hat Enterprise Linux 9 Benchmark - Level 1*"
    architecture = "x86_64"
    os           = "rhel9"
  }
  region = "us-west-2"
}
`)
	img, err := images.Parse("min.hcl", src)
	if err != nil {
		t.Fatal(err)
	}
	out := render(t, img)
	f := parse(t, out)
	source := attrsOf(t, f, []string{"source", "amazon-ebs", "min"})
	for _, absent := range []string{"ami_users", "ami_groups", "ami_org_arns", "ami_ou_arns", "ami_regions", "kms_key_id", "region_kms_key_ids", "encrypt_boot", "ssh_password", "temporary_security_group_source_cidrs", "associate_public_ip_address"} {
		if _, ok := source[absent]; ok {
			t.Errorf("source sets %s", absent)
		}
	}
	for _, tc := range []struct {
		block []string
		attr  string
		want  cty.Value
	}{
		{[]string{"source", "amazon-ebs", "min"}, "ssh_username", cty.StringVal("ec2-user")},
		{[]string{"source", "amazon-ebs", "min"}, "ssh_interface", cty.StringVal("session_manager")},
		{[]string{"source", "amazon-ebs", "min"}, "imds_support", cty.StringVal("v2.0")},
		{[]string{"source", "amazon-ebs", "min", "metadata_options"}, "http_tokens", cty.StringVal("required")},
		{[]string{"source", "amazon-ebs", "min", "metadata_options"}, "http_put_response_hop_limit", cty.NumberIntVal(1)},
		{[]string{"source", "amazon-ebs", "min", "launch_block_device_mappings"}, "device_name", cty.StringVal("/dev/sda1")},
		{[]string{"source", "amazon-ebs", "min", "launch_block_device_mappings"}, "encrypted", cty.True},
		{[]string{"source", "amazon-ebs", "min", "launch_block_device_mappings"}, "volume_size", cty.NumberIntVal(30)},
		{[]string{"build", "provisioner", "cisecs"}, "network_modes", strs("awsvpc", "bridge", "host")},
		{[]string{"build", "provisioner", "cisecs"}, "awsvpc_block_imds", cty.True},
		{[]string{"variable", "instance_type"}, "default", cty.StringVal("t3.medium")},
		{[]string{"variable", "iam_instance_profile"}, "default", cty.StringVal(release.BuildInstanceProfile)},
	} {
		if got := literal(t, f, tc.block, tc.attr); !got.RawEquals(tc.want) {
			t.Errorf("%s %s = %#v, want %#v", strings.Join(tc.block, "."), tc.attr, got, tc.want)
		}
	}
	if bytes.Contains(out, []byte("temporary_iam_instance_profile_policy_document")) {
		t.Error("a temporary instance profile: packer-plugin-amazon 1.8.2's dry run for it fails under the builder policy, on arm64 and without a default VPC")
	}
	prov := attrsOf(t, f, []string{"build", "provisioner", "cisecs"})
	if _, ok := prov["agent_version"]; ok {
		t.Error("provisioner pins an agent version the definition does not name")
	}
	if !bytes.Contains(out, []byte(`"cisecs:ecs-agent-version" = "newest"`)) {
		t.Error(`no "cisecs:ecs-agent-version" = "newest" tag`)
	}
	if !bytes.Contains(out, []byte(`ssm_parameter     = "/cisecs/min/ami-id"`)) {
		t.Error("manifest does not name the default SSM parameter")
	}
}

func TestRenderRefusesIncompleteImages(t *testing.T) {
	good, err := images.Parse("min.hcl", []byte(`image "min" {
  base {
    owners       = ["aws-marketplace"]
    name         = "CIS*"
    architecture = "x86_64"
    os           = "al2"
  }
  region = "us-east-1"
}
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*images.Image)
		want   string
	}{
		{"zero image", func(img *images.Image) { *img = images.Image{} }, `image "": not an image name`},
		{"name that is not one", func(img *images.Image) { img.Name = `x" {` }, `image "x\" {": not an image name`},
		{"no digest", func(img *images.Image) { img.Digest = "" }, `image "min": digest "" is not a hex SHA-256`},
		{"unknown os", func(img *images.Image) { img.Base.OS = "plan9" }, `image "min": unknown os "plan9"`},
		{"unknown architecture", func(img *images.Image) { img.Base.Architecture = "riscv64" }, `image "min": unknown architecture "riscv64"`},
		{"no owners", func(img *images.Image) { img.Base.Owners = nil }, `image "min": no base AMI owners`},
		{"no base filter", func(img *images.Image) { img.Base.NamePattern = "" }, `image "min": no base AMI name pattern or product code`},
		{"no network modes", func(img *images.Image) { img.ECS.NetworkModes = nil }, `image "min": no ECS network modes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := good
			tc.change(&img)
			_, err := builder.Render(img)
			if err == nil {
				t.Fatal("Render succeeded")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to start with %q", err, tc.want)
			}
		})
	}
}

// BenchmarkGenerateAll parses and renders every image definition.
func BenchmarkGenerateAll(b *testing.B) {
	paths, err := images.Files(imagesDir)
	if err != nil {
		b.Fatal(err)
	}
	srcs := make([][]byte, len(paths))
	for i, p := range paths {
		if srcs[i], err = os.ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		for i, p := range paths {
			img, err := images.Parse(p, srcs[i])
			if err != nil {
				b.Fatal(err)
			}
			if _, err := builder.Render(img); err != nil {
				b.Fatal(err)
			}
		}
	}
	ms := float64(time.Since(start).Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(float64(len(paths)), "images/op")
	budget.Max(b, fmt.Sprintf("cisecs generate, %d images", len(paths)), ms, 100, "ms/op")
}

func render(t *testing.T, img images.Image) []byte {
	t.Helper()
	b, err := builder.Render(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parse(t *testing.T, src []byte) *hclsyntax.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig(src, "out.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("output does not parse: %v\n%s", diags, src)
	}
	return f.Body.(*hclsyntax.Body)
}

// attrsOf returns the attributes of the block that path names: block types
// each followed by its labels, such as source, amazon-ebs, NAME,
// metadata_options.
func attrsOf(t *testing.T, body *hclsyntax.Body, path []string) hclsyntax.Attributes {
	t.Helper()
	rest := path
	for len(rest) > 0 {
		var next *hclsyntax.Body
		for _, b := range body.Blocks {
			n := 1 + len(b.Labels)
			if len(rest) >= n && b.Type == rest[0] && slices.Equal(b.Labels, rest[1:n]) {
				next, rest = b.Body, rest[n:]
				break
			}
		}
		if next == nil {
			t.Fatalf("no block %q", path)
		}
		body = next
	}
	return body.Attributes
}

// literal returns the value of attr in the block at path, which must be
// a literal.
func literal(t *testing.T, body *hclsyntax.Body, path []string, attr string) cty.Value {
	t.Helper()
	a, ok := attrsOf(t, body, path)[attr]
	if !ok {
		t.Fatalf("%s has no %s", strings.Join(path, "."), attr)
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("%s %s is not a literal: %v", strings.Join(path, "."), attr, diags)
	}
	return v
}

// traversals returns the variables expr refers to, such as local.tags.
func traversals(expr hclsyntax.Expression) []string {
	var out []string
	for _, tr := range expr.Variables() {
		s := tr.RootName()
		for _, step := range tr[1:] {
			if a, ok := step.(hcl.TraverseAttr); ok {
				s += "." + a.Name
			}
		}
		out = append(out, s)
	}
	return out
}

func strs(ss ...string) cty.Value {
	vals := make([]cty.Value, len(ss))
	for i, s := range ss {
		vals[i] = cty.StringVal(s)
	}
	return cty.TupleVal(vals)
}

// TestEncryptBootOnlyForRegionKeys: encrypt_boot makes the Amazon plugin
// copy the AMI once more and delete the first, so the template sets it
// only where the plugin needs it, for the copy regions' own keys; the
// launch volume's encryption is what the AMI's snapshots keep otherwise.
func TestEncryptBootOnlyForRegionKeys(t *testing.T) {
	const key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for _, tt := range []struct {
		name, volume string
		wantEncrypt  bool
	}{
		{"aws managed key", "", false},
		{"customer managed key", "kms_key_id = \"" + key + "\"", false},
		{"copy regions with keys", "kms_key_id = \"" + key + "\"\n    region_kms_key_ids = { \"eu-west-1\" = \"alias/cisecs\" }", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := "image \"enc\" {\n  base {\n    owners = [\"aws-marketplace\"]\n    name = \"CIS*\"\n    architecture = \"x86_64\"\n    os = \"al2023\"\n  }\n  region = \"us-east-1\"\n  copy_regions = [\"eu-west-1\"]\n  volume {\n    " + tt.volume + "\n  }\n}\n"
			img, err := images.Parse("enc.hcl", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			f := parse(t, render(t, img))
			source := attrsOf(t, f, []string{"source", "amazon-ebs", "enc"})
			_, encrypt := source["encrypt_boot"]
			_, amiKey := source["kms_key_id"]
			if encrypt != tt.wantEncrypt || amiKey != (tt.wantEncrypt && strings.Contains(tt.volume, "kms_key_id")) {
				t.Errorf("encrypt_boot set: %v, AMI kms_key_id set: %v; want encrypt_boot %v", encrypt, amiKey, tt.wantEncrypt)
			}
			if got := literal(t, f, []string{"source", "amazon-ebs", "enc", "launch_block_device_mappings"}, "encrypted"); !got.RawEquals(cty.True) {
				t.Errorf("launch volume encrypted = %#v, want true", got)
			}
		})
	}
}

// TestIncludeDeprecated: a base that may be deprecated is looked up with
// include_deprecated, which EC2 needs to list a deprecated AMI of another
// account; by default it is not.
func TestIncludeDeprecated(t *testing.T) {
	for _, want := range []bool{false, true} {
		src := fmt.Sprintf("image \"dep\" {\n  base {\n    owners = [\"aws-marketplace\"]\n    name = \"CIS*\"\n    architecture = \"x86_64\"\n    os = \"al2\"\n    include_deprecated = %v\n  }\n  region = \"us-east-1\"\n}\n", want)
		img, err := images.Parse("dep.hcl", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		f := parse(t, render(t, img))
		data := attrsOf(t, f, []string{"data", "amazon-ami", "cis"})
		if _, got := data["include_deprecated"]; got != want {
			t.Errorf("include_deprecated = %v in the definition: data source sets it: %v", want, got)
		}
		// amazon-ebs looks source_ami up again without deprecated AMIs:
		// a deprecated base needs its own filter that includes them.
		_, sourceAMI := attrsOf(t, f, []string{"source", "amazon-ebs", "dep"})["source_ami"]
		if sourceAMI == want {
			t.Errorf("include_deprecated = %v: amazon-ebs sets source_ami: %v", want, sourceAMI)
		}
		if want {
			if got := literal(t, f, []string{"source", "amazon-ebs", "dep", "source_ami_filter"}, "include_deprecated"); !got.RawEquals(cty.True) {
				t.Errorf("source_ami_filter include_deprecated = %#v, want true", got)
			}
		}
	}
}

// TestAmazonPluginPinned: the templates require exactly the Amazon plugin
// that tools/go.mod pins, the one make rehearse and make
// validate-templates run them with, so a local packer init installs what
// CI tested.
func TestAmazonPluginPinned(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "tools", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/hashicorp/packer-plugin-amazon v" + builder.AmazonPluginVersion
	if !regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(want) + `(\s|$)`).Match(b) {
		t.Errorf("tools/go.mod does not require %s: builder.AmazonPluginVersion and the pinned tool disagree", want)
	}
}
