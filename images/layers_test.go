package images_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/cisecs/cisecs/images"
	"github.com/cisecs/cisecs/provisioner/hostscript"
)

// withBlocks is minimal with extra lines in its image block.
func withBlocks(extra string) string {
	return strings.Replace(minimal, "  region = \"eu-west-1\"\n", "  region = \"eu-west-1\"\n"+extra, 1)
}

func TestParseLayers(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want hostscript.Layers
	}{
		{"none", minimal, hostscript.Layers{}},
		{"docker volume", withBlocks("  docker_volume { size_gb = 100 }\n"),
			hostscript.Layers{DockerVolume: hostscript.Volume{SizeGB: 100, Device: "/dev/sdf"}}},
		{"both volumes, overlay accepted", withBlocks("  docker_volume {\n    size_gb     = 50\n    device_name = \"/dev/sdh\"\n  }\n  audit_volume { size_gb = 20 }\n  ecs { allow_overlayfs = true }\n"),
			hostscript.Layers{DockerVolume: hostscript.Volume{SizeGB: 50, Device: "/dev/sdh"}, AuditVolume: hostscript.Volume{SizeGB: 20, Device: "/dev/sdg"}, AllowOverlayfs: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := images.Parse("images/min.hcl", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := img.Layers(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Layers() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseLayersProblems(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  []string
	}{
		{"no size", "  docker_volume {}\n", []string{"min.hcl:10:3: docker_volume.size_gb: required attribute is missing: the volume's size in GiB, such as 100"}},
		{"size zero", "  audit_volume { size_gb = 0 }\n", []string{"min.hcl:10:28: audit_volume.size_gb: 0 is outside 1 to 16384"}},
		{"bad device", "  docker_volume {\n    size_gb     = 10\n    device_name = \"sdf\"\n  }\n", []string{`min.hcl:12:19: docker_volume.device_name: "sdf" is not a device name such as /dev/sdf`}},
		{"same device", "  docker_volume { size_gb = 10 }\n  audit_volume {\n    size_gb     = 10\n    device_name = \"/dev/sdf\"\n  }\n", []string{`min.hcl:11:3: audit_volume.device_name: "/dev/sdf" is docker_volume's too`}},
		{"root device", "  docker_volume {\n    size_gb     = 10\n    device_name = \"/dev/xvda\"\n  }\n", []string{`min.hcl:10:3: docker_volume.device_name: "/dev/xvda" is the root volume's`}},
		{"allow_overlayfs not a bool", "  ecs { allow_overlayfs = \"yes\" }\n", []string{"min.hcl:10:27: ecs.allow_overlayfs: want true or false, not string"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := images.Parse("min.hcl", []byte(withBlocks(tc.extra)))
			if err == nil {
				t.Fatalf("Parse succeeded; want %q", tc.want)
			}
			if got := problemLines(t, err); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
