package builder_test

import (
	"testing"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/cisecs/cisecs/images"
)

// TestRenderDataVolumes: docker_volume and audit_volume become launch
// block device mappings (CreateImage keeps them in the AMI) and the
// provisioner's settings of the same devices; allow_overlayfs reaches the
// provisioner.
func TestRenderDataVolumes(t *testing.T) {
	img, err := images.Parse("full.hcl", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, render(t, img))
	var src *hclsyntax.Body
	for _, b := range f.Blocks {
		if b.Type == "source" {
			src = b.Body
		}
	}
	if src == nil {
		t.Fatal("no source block")
	}
	type mapping struct {
		device string
		size   int64
	}
	var got []mapping
	for _, b := range src.Blocks {
		switch b.Type {
		case "ami_block_device_mappings":
			t.Errorf("ami_block_device_mappings %v: CreateImage may not change an attached volume's size or encryption", b.Range())
		case "launch_block_device_mappings":
			dev, _ := b.Body.Attributes["device_name"].Expr.Value(nil)
			size, _ := b.Body.Attributes["volume_size"].Expr.Value(nil)
			enc, _ := b.Body.Attributes["encrypted"].Expr.Value(nil)
			n, _ := size.AsBigFloat().Int64()
			got = append(got, mapping{dev.AsString(), n})
			if enc != cty.True {
				t.Errorf("mapping of %s: encrypted %v, want true", dev.AsString(), enc)
			}
		}
	}
	want := []mapping{{"/dev/xvdb", 64}, {"/dev/sdf", 100}, {"/dev/sdh", 20}}
	if len(got) != len(want) {
		t.Fatalf("launch mappings %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("launch mapping %d = %v, want %v", i, got[i], want[i])
		}
	}
	prov := []string{"build", "provisioner", "cisecs"}
	for attr, want := range map[string]cty.Value{
		"docker_volume_size_gb":     cty.NumberIntVal(100),
		"docker_volume_device_name": cty.StringVal("/dev/sdf"),
		"audit_volume_size_gb":      cty.NumberIntVal(20),
		"audit_volume_device_name":  cty.StringVal("/dev/sdh"),
		"allow_overlayfs":           cty.True,
	} {
		if got := literal(t, f, prov, attr); !got.RawEquals(want) {
			t.Errorf("provisioner %s = %#v, want %#v", attr, got, want)
		}
	}
}
